"""The suite's data as typed, validated objects: matrix.yaml (models, GPUs, targets, flag sets;
schema beside it), the known deviations, the probe prompts and the test images they carry.
Imports no other subpackage of lfm_conformance: everything else builds on it."""
