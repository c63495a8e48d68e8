"""harlit.bench: the benchmarks, one module each, behind `python -m harlit.bench BENCHMARK` (see cli).

Benchmarks (subcommands):
- train: training throughput of the real pipeline next to the model-only ceiling, on the synthetic
  DataModule or a generated UTD-MHAD tree through its video cache, with loader variants, what-ifs
  and profiles; its pieces: train_config (sizes, configs, variants), train_runs (the measurements),
  what_ifs (bench-only patches, each awaiting a GPU measurement), profiling and timeline (torch.profiler
  over a window of steps, and where each step's time goes)
- prepare: building the video cache: decoders, cache formats, a generated MMAct tree, the full-MMAct estimate
- cache: an epoch from the cache vs decoding on the fly; the cache-format accuracy dataset and report
- heads: stage-2 training-step time of each fusion head
- predict: prediction throughput through harlit.load_model and `python -m harlit.predict`

Shared helpers:
- generated: the one writer of generated videos and dataset trees (UTD-MHAD, MMAct, synthetic files),
  used by the tests too
- reference_decode: the clip decoder before chosen-frame decoding (the tests' reference, prepare's "old")
- timing, machine, tables: clocks and step timers, what the machine is, printed tables

Nothing is imported here, so `harlit.bench.generated` loads without the training code.
"""
