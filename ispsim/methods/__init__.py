"""Methods: the interface, the registry and the methods themselves.

``create_method(name, profile)`` builds one with its settings profile from ``methods/<name>.toml``;
``list_methods()`` lists what is registered, with tracks and capability flags.
"""

from __future__ import annotations

import importlib

from ..errors import ConfigError
from .base import PROFILES, TRACKS, Method, MethodInfo, Reference, load_settings

# name -> "module:Class"; modules import lazily so that heavy methods cost nothing until used.
REGISTRY = {
    "blind-unprocess": "ispsim.methods.baselines:BlindUnprocess",
    "global-fit": "ispsim.methods.baselines:GlobalFit",
    "sam-rbf": "ispsim.methods.baselines:SamRBF",
    "oracle": "ispsim.methods.baselines:Oracle",
    "inf": "ispsim.methods.inf:INF",
    "inf-gf": "ispsim.methods.inf:INFGlobalFit",
    "inf-omega3": "ispsim.methods.inf:INFOmega3",
    "cam": "ispsim.methods.cam:CAM",
    "cam-ft": "ispsim.methods.cam:CAMFineTuned",
    "priorraw": "ispsim.methods.priorraw:PriorRAW",
    "priorraw-search": "ispsim.methods.priorraw:PriorRAWSearch",
    "unet-raw": "ispsim.methods.restoration:OneStageUNet",
    "isp-unet": "ispsim.methods.restoration:TwoStage",
    "classic-isp": "ispsim.methods.restoration:ClassicISP",
    "rddm": "ispsim.methods.rddm:RDDM",
    "rddm-allinone": "ispsim.methods.rddm:RDDMAllInOne",
    "rddm-rawloss": "ispsim.methods.rddm:RDDMRawLoss",
    "denoise-g": "ispsim.methods.denoise:DenoiseG",
    "denoise-pg": "ispsim.methods.denoise:DenoisePG",
    "denoise-physics": "ispsim.methods.denoise:DenoisePhysics",
    "nlm-known": "ispsim.methods.denoise:NLMKnown",
    "rawmamba": "ispsim.methods.rawmamba:RAWMamba",
    "rawmamba-no-geb": "ispsim.methods.rawmamba:RAWMambaNoGEB",
    "rawmamba-no-leb": "ispsim.methods.rawmamba:RAWMambaNoLEB",
    "rawmamba-no-local": "ispsim.methods.rawmamba:RAWMambaNoLocal",
    "rawmamba-no-global": "ispsim.methods.rawmamba:RAWMambaNoGlobal",
    "rawmamba-no-base": "ispsim.methods.rawmamba:RAWMambaNoBase",
}


def method_class(name: str) -> type[Method]:
    if name not in REGISTRY:
        raise ConfigError(f"method {name!r}: unknown; registered methods: {', '.join(REGISTRY)}")
    module, cls = REGISTRY[name].split(":")
    return getattr(importlib.import_module(module), cls)


def create_method(name: str, profile: str = "quick") -> Method:
    cls = method_class(name)
    return cls(load_settings(cls.settings_file or name, profile, cls.defaults), profile)


def list_methods() -> list[MethodInfo]:
    return [method_class(n).info for n in REGISTRY]


__all__ = ["PROFILES", "REGISTRY", "TRACKS", "Method", "MethodInfo", "Reference", "create_method", "list_methods",
           "method_class"]
