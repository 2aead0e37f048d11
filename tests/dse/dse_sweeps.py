"""The sweep files the DSE tests share."""

SMALL_SWEEP = """\
name: mlp_small
base: bitmod
hardware:
  pe_array.rows: [8, 16, 32]
  pe_array.cols: [8, 16]
  dram.bandwidth: [16B/cycle, 32B/cycle]
quantisation:
  formats: [[int8], [int4, int8], [bitmod4, int8]]
  group_size: [32, null]
  bit_budget: [null, 6.0]
workloads:
  - {model: mlp}
objectives: [latency, energy, accuracy]
constraints:
  area: {max: 1.0}
"""

# 288 points, for the crash test: nine commits of 32 on one worker, so a kill lands mid-sweep.
CRASH_SWEEP = SMALL_SWEEP.replace("name: mlp_small", "name: mlp_crash").replace(
    "pe_array.rows: [8, 16, 32]", "pe_array.rows: [4, 8, 16, 32, 64, 128]").replace(
    "formats: [[int8], [int4, int8], [bitmod4, int8]]", "formats: [[int8], [int6], [int4, int8]]")
