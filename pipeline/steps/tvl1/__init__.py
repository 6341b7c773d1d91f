"""Dual TV-L1 optical flow and the ``ufsn-data tvl1`` step.

Modules (import names from the module that defines them):

- ``params``: ``TVL1Params``, the algorithm's parameters (OpenCV's defaults);
- ``devices``: which device and implementation can run here (``check_device``, ``check_compiler``);
- ``frames``: a video's frame folder, listed in order (``list_frames``) and read as grey (``read_grey``);
- ``video``: the worker's task, one video -> flow images (``FlowSettings``, ``TVL1Task``, ``tvl1_video``);
- ``opencv``: ``compute_tvl1``, one pair through cv2.optflow or cv2.cuda, and ``video_flows``, one video;
- ``pytorch``: ``tvl1_flow``, the same algorithm in PyTorch on a batch of pairs, any device, and
  ``video_flows``, one video ``auto_batch`` pairs at a time;
- ``step``: ``TVL1Config`` and ``run_tvl1``, frames -> quantised flow images, resumable.

``video`` imports neither implementation: a worker imports only the one its ``FlowSettings.flows`` names,
so workers of an OpenCV run never load torch.
"""
