"""The ``federated`` scenario: Chen, Yi, Zhou, Kang, Wu, Niyato, IEEE TMC 2025 (seed 001).

Federated digital-twin construction: the cloud splits the DT into partial-DTs, assigns them to
edge servers by Gale-Shapley matching, sensors form overlapping coalitions around the ESs
(SOCF), ESs train their partial-DTs and the cloud integrates them; DMO (PPO) chooses the
resource allocations and preference lists frame by frame. See README.md for the model.
"""
