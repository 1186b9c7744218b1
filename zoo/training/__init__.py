"""Training, shared by ``zoo train`` and ``zoo finetune``, in five parts:

- ``config``: ``TrainConfig``, one run's recipe, and what config.json records of a run (``recipe``);
- ``loop``: ``fit``, the loop itself (one-cycle AdamW, rotation augmentation, validation every epoch);
- ``average``: ``WeightAverage``, the exponential moving average of the weights that is published;
- ``resume``: the resume checkpoint every ``checkpoint_every`` steps, and the check that a resumption is the
  same run;
- ``parallel``: data-parallel processes (torchrun's ``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK``, read once): one
  GPU per process, what the replicas share decided once, data prepared by the main process first.
- ``allocator``: glibc's malloc told to keep freed memory, so a step's buffers are not fresh pages.

Data order and rotation angles depend only on (seed, epoch), so a resumed run sees exactly the batches the
uninterrupted run would have seen.
"""
from .average import WeightAverage
from .config import TrainConfig, augmentation, describe_device, machine, recipe, trained_on
from .loop import epoch_jitter, epoch_plan, fit
from .parallel import Processes, end_processes, main_first, processes, setup_processes
from .resume import check_resumable, load_resume, read_resume_state, save_resume

__all__ = ["TrainConfig", "WeightAverage", "fit", "recipe", "augmentation", "trained_on", "machine",
           "describe_device", "epoch_plan", "epoch_jitter", "Processes", "processes", "setup_processes",
           "main_first", "end_processes", "check_resumable", "load_resume", "read_resume_state", "save_resume"]
