"""Demo data: a real telecom topology and fault cascades along a real causal graph.

The topology (45 devices) and the causal graph between 59 alarm types come from
the public sample of Huawei Noah's Ark Lab's NeurIPS 2023 causal structure
learning competition (Apache-2.0; see data/ATTRIBUTION.md). The alarm types are
anonymised there; the demo gives them readable names. Faults are simulated: a
root device fails (sometimes silently), its alarm's effects appear on neighbouring
devices after reporting delays, some events are re-sent, and unrelated background
alarms are mixed in.
"""
