"""The embedded local environment: moto's server standing in for both AWS accounts.

``state`` says whether one is up, ``server`` starts and stops it, ``provision``
creates what ``dsctl synth`` reports for each stack, ``runner`` runs the job the way
the task definition would. CONTRACTS.md section 10 is the boundary.
"""
