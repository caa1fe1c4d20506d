"""Peer for bench/clv.sh: a lifetimes fit of /customers in an HDF5 file.

usage: clv_lifetimes.py FILE.h5 bgnbd|pareto"""
import sys
import warnings

import h5py
from lifetimes import BetaGeoFitter, ParetoNBDFitter

warnings.simplefilter("ignore")
g = h5py.File(sys.argv[1], "r")["customers"]
model = sys.argv[2] if len(sys.argv) > 2 else "bgnbd"
fitter = ParetoNBDFitter() if model == "pareto" else BetaGeoFitter()
fitter.fit(g["x"][:], g["t_x"][:], g["T"][:])
print(fitter.params_.to_dict())
