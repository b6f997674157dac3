"""Automatic differentiation over graphs: VJP rules for the registry's ops (attached to the
op records on import), the reverse-mode walk and joint forward+backward graph, and the
partitioners that split it into a forward and a backward graph."""

from dynajit.autograd import rules
from dynajit.autograd.joint import JointGraph, build_joint, differentiate, gradients_for
from dynajit.autograd.partition import PARTITIONERS, Partition, partition

rules.attach()

__all__ = ["PARTITIONERS", "JointGraph", "Partition", "build_joint", "differentiate",
           "gradients_for", "partition", "rules"]
