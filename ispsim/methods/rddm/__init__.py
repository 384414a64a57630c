"""RDDM (RAW-domain diffusion model) for the restoration track; diffusers and peft load only when
an RDDM model is built or trained."""

from .method import RDDM, RDDMAllInOne, RDDMRawLoss

__all__ = ["RDDM", "RDDMAllInOne", "RDDMRawLoss"]
