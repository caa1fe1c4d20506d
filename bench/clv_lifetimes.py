"""Peer for bench/clv.sh: lifetimes' BG/NBD fit of /customers in an HDF5 file."""
import sys
import warnings

import h5py
from lifetimes import BetaGeoFitter

warnings.simplefilter("ignore")
g = h5py.File(sys.argv[1], "r")["customers"]
bg = BetaGeoFitter().fit(g["x"][:], g["t_x"][:], g["T"][:])
print(bg.params_.to_dict())
