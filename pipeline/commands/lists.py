"""``ufsn-data lists``: mmaction2 rawframe annotation lists for every split, RGB and flow."""

from __future__ import annotations

from pathlib import Path

import click

from pipeline.commands.options import dataset_option, root_option
from ufsn.errors import UfsnError


@click.command("lists")
@root_option
@dataset_option
@click.option("--out", type=click.Path(path_type=Path, file_okay=False),
              help="Folder of the lists [default: <root>/<dataset>/mmaction2].")  # fmt: skip
@click.option("--modality", "modalities", type=click.Choice(["rgb", "flow"]), multiple=True,
              default=("rgb", "flow"), show_default=True, help="Lists to write (repeatable).")  # fmt: skip
def lists(root, dataset, out, modalities):
    """Write mmaction2 annotation lists from splits/split<k>.csv and the frame folders.

    \b
    One line per video: `frame_dir total_frames label` (0-based labels).
    <dataset>_train_split_<k>_rawframes.txt   official train list (ufsn's train + val)
    <dataset>_val_split_<k>_rawframes.txt     official test list (mmaction2 calls it val)
    ..._rawframes_flow.txt                    the same for TV-L1 flow: total_frames = flow pairs
    \b
    In the mmaction2 config:
      RGB:  data_prefix=<root>/<dataset>/frames, filename_tmpl='img_{:05}.jpg', start_index=1
      Flow: data_prefix=<root>/<dataset>/tvl1, modality='Flow',
            filename_tmpl='flow_{}_{:05d}.jpg', start_index=1
    """
    from pipeline.steps.lists import ListsConfig, run_lists

    try:
        report = run_lists(ListsConfig(root=root, dataset=dataset, out=out, modalities=tuple(modalities)))
    except UfsnError as exc:
        raise click.ClickException(str(exc)) from exc
    for message in report.skipped:
        click.echo(f"skipped: {message}", err=True)
    for path in report.written:
        click.echo(f"wrote {path} ({report.lines[path.name]} videos)")
