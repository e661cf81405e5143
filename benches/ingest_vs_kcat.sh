#!/usr/bin/env bash
# Ingest vs kcat: installs kcat when missing, then runs `twinscope-bench ingest`,
# which starts its own MockCluster, fills a 64-partition telemetry topic with 2M records
# (~110 B each, 10k assets), and times, interleaved in the same run:
#   - twinscope's headless ingest (decode + store + time index, as `snapshot --at` the end),
#   - `kcat -C -e -q -o beginning` draining the same topic to /dev/null,
#   - a bare rdkafka BaseConsumer loop with twinscope's consumer settings,
# then prints msg/s and the ratios, and scrub vs a naive replay on the same topic.
# Extra arguments go to the bench, e.g. `--records 200000 --reps 1` for a quick run, or
# `--brokers host:9092` to run it on a real cluster instead of the MockCluster: the workload
# topic is created there (replication 1, retention unlimited) and kept, so a later run with the
# same workload reuses it.
# Timings are reported, never asserted.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v kcat >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq kcat >/dev/null
fi

cargo run --release --quiet --features testkit --bin twinscope-bench -- ingest "$@"
