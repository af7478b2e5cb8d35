"""The step-by-step conformance suite: feeds identical gradient streams to the reference and
to each real framework and compares their trajectories in float32 ULPs."""
