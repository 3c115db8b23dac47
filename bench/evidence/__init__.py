"""Real-model evidence for the distillation recipe (issue 6): all-MiniLM-L6-v2 teacher, multilingual-e5-small
student, Tatoeba EN–TR pairs, tested on LASER's Tatoeba test set. Run with `python -m bench.evidence.run`."""
