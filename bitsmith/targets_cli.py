"""`bitsmith targets`: the shipped target library as a table, one target described
in full (with the figures derived from it), and a validity check for a user's file.
A bad target raises TargetError, which the CLI's `main` prints as one line."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table

if TYPE_CHECKING:  # the target package is imported when a command runs, keeping `bitsmith --help` quick
    from bitsmith.targets import CPU, GPU, Accelerator, Target
    from bitsmith.targets.accelerator import Buffer

targets_app = typer.Typer(
    name="targets",
    help="Hardware targets: list the shipped library, describe one, check a file.",
    invoke_without_command=True,
)
console = Console()


@targets_app.callback()
def overview(ctx: typer.Context) -> None:
    """With no command: a table of the shipped targets."""
    if ctx.invoked_subcommand is not None:
        return
    table = Table(title="bitsmith targets (bitsmith targets show NAME for details)")
    for column in TARGET_COLUMNS:
        table.add_column(column)
    for row in target_rows():
        table.add_row(*row)
    console.print(table)


TARGET_COLUMNS = ("name", "kind", "PE", "array", "clock", "formats", "description")


def target_rows() -> list[tuple[str, ...]]:
    """One row of TARGET_COLUMNS per shipped target: the overview table, and the
    documentation's target table (bitsmith.docs_gen)."""
    from bitsmith.targets import list_targets, load_target

    rows = []
    for name in list_targets():
        target = load_target(name)
        rows.append((name, target.kind, _pe_text(target), _array_text(target), _clock_text(target),
                     _formats_text(target), target.description))
    return rows


@targets_app.command()
def show(name: Annotated[str, typer.Argument(help="A shipped target's name, or a path to a target file.")]) -> None:
    """Describe a target, grouped by block, with the figures derived from it."""
    from bitsmith.targets import load_target

    target = load_target(name)
    header = f"[bold]{target.name}[/] ({target.kind})\n{target.description}\n[dim]source: {target.source}[/]"
    console.print(Panel(header, expand=False))
    if target.kind == "accelerator":
        _show_accelerator(target)
    elif target.kind == "cpu":
        console.print(Panel(_fields("host", [("arch", target.arch), ("features", ", ".join(target.features) or "-"),
                                       ("cores", str(target.cores)), ("widest SIMD", f"{target.simd_bits} bits"),
                                       ("LLVM -mattr", ",".join(target.mattr) or "-")]),
                            title=target.name, expand=False))
    else:
        _show_gpu(target)


@targets_app.command()
def check(path: Annotated[Path, typer.Argument(help="A target YAML file.")]) -> None:
    """Validate a target file: one OK line and exit 0, or one error line and exit 1."""
    from bitsmith.targets import load_target

    target = load_target(path)
    console.print(f"OK {path}: {target.kind} {target.name!r}, {_pe_text(target)} {_array_text(target)} "
                  f"at {_clock_text(target)}", highlight=False)


def _show_accelerator(target: Accelerator) -> None:
    array, formats = target.pe_array, target.formats
    phases = [f"{phase} {'x'.join(map(str, array.shape(phase)))}" for phase in ("decode", "prefill")]
    pe_rows = [("pe", array.pe), ("dataflow", array.dataflow), ("shape", ", ".join(phases)),
               ("dot-product width", str(array.dot_product_width)), ("bits per cycle", _text(array.bits_per_cycle))]
    if array.lut is not None:
        pe_rows.append(("lookup table", f"group {array.lut.group}, {array.lut.table_entries} entries of "
                                        f"{array.lut.entry_format}{' (symmetric)' if array.lut.symmetric else ''}"))
    if array.fusion is not None:
        pe_rows.append(("fusion", f"{array.fusion.brick_bits}-bit bricks fused to {array.fusion.fused_bits} bits"))
    pe_rows += [("PE energy per cycle", _text(array.pe_energy_per_cycle)), ("PE area", _text(array.pe_area)),
                ("place-and-route factor", _text(array.pnr_factor)), ("source", array.source)]
    blocks = [_fields("chip", [("clock", str(target.clock)), ("technology", _text(target.technology))]),
              _fields("PE array", pe_rows),
              _fields("formats", [("weights", ", ".join(formats.weights)), ("default weights", formats.default_weights),
                                  ("activations", ", ".join(formats.activations)), ("KV cache", formats.kv_cache),
                                  ("group size", _text(formats.group_size) if formats.group_size else "per channel"),
                                  ("source", formats.source)])]
    if target.dequant is not None:
        dq = target.dequant
        blocks.append(_fields("dequant", [("mode", dq.mode), ("scale", f"{dq.scale_format} per {dq.granularity}"),
                                          ("cycles per scale", str(dq.cycles_per_scale)), ("source", dq.source)]))
    if target.vector_unit is not None:
        vu = target.vector_unit
        blocks.append(_fields("vector unit", [("lanes", str(vu.lanes)), ("ops per cycle", str(vu.ops_per_cycle)),
                                              ("epilogue", ", ".join(vu.epilogue) if vu.epilogue else "none"),
                                              ("source", vu.source)]))
    buffers = Table(title="on-chip buffers", title_justify="left")
    for column in ("name", "size", "banks", "port", "read/access", "write/access", "area", "source"):
        buffers.add_column(column, overflow="fold")
    for name, buffer in target.buffers.items():
        buffers.add_row(name, str(buffer.size), _text(buffer.banks), _port_text(buffer),
                        _text(buffer.read_energy_per_access), _text(buffer.write_energy_per_access),
                        _text(buffer.area), buffer.source)
    blocks.append(buffers)
    blocks.append(_fields("DRAM", [("bandwidth", str(target.dram.bandwidth)),
                                   ("energy per bit", _text(target.dram.energy_per_bit)),
                                   ("size", _text(target.dram.size)), ("source", target.dram.source)]))
    tiles = ", ".join(f"{phase} " + " ".join(f"{dim}{size}" for dim, size in array.gemm_tile(phase).items())
                      for phase in ("decode", "prefill"))
    blocks.append(_fields("derived", [
        ("PEs / multiplier lanes", f"{array.pe_count} / {array.lanes}"),
        ("GEMM tile per step", tiles),
        ("array area (synthesis / placed)",
         f"{_number(array.area_mm2, 'mm²')} / {_number(array.placed_area_mm2, 'mm²')}"),
        ("PE energy per cycle, placed", _number(array.placed_pe_energy_pj, "pJ")),
        ("peak MACs per cycle", f"{target.peak_macs_per_cycle:g} ({target.peak_tops:.4g} TOPS)"),
        ("DRAM", f"{target.dram_bytes_per_cycle:.4g} B/cycle = {target.dram_gb_per_s:.4g} GB/s, "
                 f"{_number(target.dram_pj_per_bit, 'pJ/bit')}"),
        ("on-chip memory", f"{target.onchip_bytes / 1024:g} KiB"),
    ]))
    console.print(Panel(Group(*blocks), title=target.name, expand=False))


def _show_gpu(target: GPU) -> None:
    peaks = ", ".join(f"{fmt} {target.peak_tensor_tflops(fmt):.1f}" for fmt in target.tensor_fma_per_cycle_per_sm)
    ridge = target.peak_tensor_tflops(next(iter(target.tensor_fma_per_cycle_per_sm))) / target.memory_tb_per_s
    console.print(Panel(_fields("GPU", [
        ("arch", target.arch), ("SMs", str(target.sms)), ("clock", str(target.clock)), ("memory", str(target.memory)),
        ("memory bandwidth", str(target.memory_bandwidth)), ("L2 cache", str(target.l2_cache)),
        ("shared memory per SM", str(target.shared_memory_per_sm)),
        ("tensor FMA per cycle per SM", ", ".join(f"{k} {v}" for k, v in target.tensor_fma_per_cycle_per_sm.items())),
        ("power", _text(target.power)),
        ("dense tensor peak (TFLOP/s)", peaks),
        ("ridge point", f"{ridge:.0f} FLOP per byte"),
    ]), title=target.name, expand=False))


def _fields(title: str, rows: list[tuple[str, str]]) -> Table:
    table = Table(title=title, title_justify="left", show_header=False, box=None, padding=(0, 2))
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for key, value in rows:
        table.add_row(key, value)
    return table


def _text(value: object) -> str:
    return "unknown" if value is None else str(value)


def _number(value: float | None, unit: str) -> str:
    return "unknown" if value is None else f"{value:.4g} {unit}"


def _pe_text(target: Target) -> str:
    return target.pe_array.pe if target.kind == "accelerator" else "-"


def _array_text(target: Target) -> str:
    if target.kind == "accelerator":
        rows, cols = target.pe_array.shape()
        return f"{rows}x{cols}x{target.pe_array.dot_product_width}"
    if target.kind == "cpu":
        return f"{target.arch}, {target.cores} cores"
    return f"{target.sms} SMs"


def _clock_text(target: Target) -> str:
    return "-" if target.kind == "cpu" else str(target.clock)


def _formats_text(target: Target) -> str:
    if target.kind == "accelerator":
        return f"W {', '.join(target.formats.weights)}; A {', '.join(target.formats.activations)}"
    if target.kind == "cpu":
        return ", ".join(target.features) or "-"
    return ", ".join(target.tensor_fma_per_cycle_per_sm)


def _port_text(buffer: Buffer) -> str:
    """The default port width, then any per-phase width (`1024bit (prefill 512bit)`)."""
    text = _text(buffer.port_width)
    phases = [(phase, getattr(buffer.phases, phase, None)) for phase in ("prefill", "decode")]
    extra = [f"{phase} {shape.port_width}" for phase, shape in phases if shape is not None]
    return f"{text} ({', '.join(extra)})" if extra else text
