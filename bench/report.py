"""Writes bench/results/report.md and report.png from the outputs bench/report.sh collected.

Reads, in the --raw directory: ingest.log (bench/ingest_bench), python-stack.json
(bench/python_stack.py), outbox.log (bench/outbox_bench), soak.json and soak.csv
(bench/soak_bench), commands.txt (one command per line, as report.sh ran them) and meta.env
(KEY=VALUE lines: start and end time, revision, load averages, mode).

The soak's resources are judged here; SOAK_RULE below is the definition, printed in the report.
"""
import argparse
import csv
import datetime
import json
import math
import os
import platform
import re
import sys
from pathlib import Path

# A resource stayed bounded when both hold:
#   (1) its maximum over the soak is at most LIMIT_FACTOR x its first-minute level, the largest
#       sample in the first BASELINE_SECONDS of load (or the first fifth of a shorter soak);
#   (2) it has no upward trend at the end that would break that bound: its last value plus the
#       least-squares slope over the last third of the load samples times the soak's length
#       (i.e. where it would be after another soak at the rate it was still growing) is also
#       within LIMIT_FACTOR x the first-minute level.
# The WAL gets a larger factor: without journal_size_limit its file keeps its high-water mark,
# which steps up whenever a commit lands while a checkpoint cannot reset the log.
BASELINE_SECONDS = 60
LIMIT_FACTOR = {"rss": 1.5, "fds": 1.5, "wal": 2.0}
SOAK_RULE = (
    "A resource counts as bounded when (1) its maximum over the soak is at most {rss}x "
    "(VmRSS, open fds) or {wal}x (WAL: its file keeps its high-water mark, so it steps up "
    "whenever a commit lands while a checkpoint cannot reset the log) its first-minute level, "
    "the largest sample in the first {base} s of load (the first fifth of a shorter soak), and "
    "(2) it shows no upward trend at the end that would break that bound: its last value plus "
    "the least-squares slope over the last third of the load times the soak's length (where "
    "it would be after another soak at the rate it was still growing) is within the same bound."
).format(rss=LIMIT_FACTOR["rss"], wal=LIMIT_FACTOR["wal"], base=BASELINE_SECONDS)
PYTHON_TARGET = 20  # tomstreamd's durable ingest >= 20x the Python stack's rate
KEPT_PACE_SECONDS = 2  # input still unstored when the soak's load stops, in seconds of input
KEPT_PACE_PUBLISH = 0.95  # share of the requested enqueue rate reached

NUM = r"([\d.]+)"


def fail(msg):
    sys.exit(f"report.py: {msg}")


# ----------------------------------------------------------------------------------- parsing

def parse_ingest(text):
    out = {}
    m = re.search(r"ingest benchmark: (\d+) hop-format .* of ~(\d+) bytes, topic (\S+)", text)
    if not m:
        fail("ingest.log: no header line")
    out["messages"], out["payload_bytes"], out["topic"] = int(m[1]), int(m[2]), m[3]
    for key, label in (("raw_consumer", r"\(a\) raw librdkafka consumer"),
                       ("daemon_raw", r"\(b\) tomstreamd, raw handler"),
                       ("daemon_hermes", r"\(c\) tomstreamd, hermes handler")):
        m = re.search(label + r"\s+" + NUM + r" msg/s\s+\(" + NUM + r" s\)"
                      r"(?:\s+peak RSS " + NUM + " MB)?", text)
        if not m:
            fail(f"ingest.log: no line for {label}")
        out[key] = {"rate": float(m[1]), "seconds": float(m[2]),
                    "peak_rss_mb": float(m[3]) if m[3] else None}
    m = re.search(r"^targets: (.*)$", text, re.M)
    out["targets"] = m[1] if m else ""
    verdicts = dict(re.findall(r"(\(b\) >= 100000 msg/s|b/a >= 0.3|peak RSS <= 64 MB): "
                               r"(met|MISSED)", out["targets"]))
    out["verdicts"] = verdicts
    return out


OUTBOX_LINE = re.compile(
    r"^(?P<figure>.+?)\s+"
    r"(?P<measured>[\d.]+(?: / [\d.]+)? (?:calls/s|rows/s|msg/s|ms|s|MB))\s+"
    r"(?P<target>\(comparison\)|>= [\d.]+|<= [\d.]+ \w+|p99 <= [\d.]+ ms)"
    r"(?:\s+(?P<verdict>met|MISSED))?\s*$")


def parse_outbox(text):
    rows, notes = [], []
    lines = text.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.startswith("figure "))
    except StopIteration:
        fail("outbox.log: no results table")
    for line in lines[start + 1:]:
        if not line.strip():
            continue
        # The figure is the shortest prefix after which a measurement, a target and an optional
        # verdict end the line (a figure may itself contain numbers and units: "15 s on ...").
        m = OUTBOX_LINE.match(line)
        if m:
            rows.append({k: (v or "").strip() for k, v in m.groupdict().items()})
        else:
            notes.append(line.strip())
    m = re.search(r"\(b\) tomstreamd / raw producer = " + NUM, text)
    ratio = float(m[1]) if m else None
    return {"rows": rows, "notes": notes, "delivery_vs_raw": ratio}


def read_soak(raw):
    summary = json.loads((raw / "soak.json").read_text())
    samples = []
    with open(raw / "soak.csv") as f:
        for row in csv.DictReader(f):
            samples.append({k: (v if k == "phase" else float(v)) for k, v in row.items()})
    if len(samples) < 3:
        fail("soak.csv: fewer than 3 samples")
    return summary, samples


def read_env(path):
    out = {}
    if path.exists():
        for line in path.read_text().splitlines():
            key, sep, value = line.partition("=")
            if sep:
                out[key.strip()] = value.strip()
    return out


# ---------------------------------------------------------------------------------- the soak

def slope(points):
    """Least-squares slope of [(t, v)], per second."""
    n = len(points)
    mt = sum(t for t, _ in points) / n
    mv = sum(v for _, v in points) / n
    den = sum((t - mt) ** 2 for t, _ in points)
    return sum((t - mt) * (v - mv) for t, v in points) / den if den else 0.0


def judge(samples, load_seconds, key, factor):
    """The bounded rule (SOAK_RULE) on one column. Returns a dict of the figures."""
    load = [s for s in samples if s["phase"] == "load"]
    window = min(BASELINE_SECONDS, load_seconds / 5)
    base = max(s[key] for s in load if s["t_s"] <= window + 0.5)
    peak = max(s[key] for s in load)
    tail = [(s["t_s"], s[key]) for s in load if s["t_s"] >= load_seconds * 2 / 3]
    if len(tail) < 3:
        tail = [(s["t_s"], s[key]) for s in load[-3:]]
    per_second = slope(tail)
    last = load[-1][key]
    projected = last + max(0.0, per_second) * load_seconds
    limit = factor * base
    ok_peak = peak <= limit
    ok_trend = projected <= limit
    return {"first": samples[0][key], "base": base, "max": peak, "last": last,
            "after_drain": samples[-1][key], "limit": limit, "per_minute": per_second * 60,
            "projected": projected, "ok_peak": ok_peak, "ok_trend": ok_trend,
            "bounded": ok_peak and ok_trend, "window": window}


# --------------------------------------------------------------------------------- formatting

def f0(v):
    return f"{v:,.0f}"


def verdict(ok):
    return "met" if ok else "MISSED"


def machine():
    mem_kb = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    model = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {"nproc": os.cpu_count(), "mem_gib": mem_kb / 1048576, "cpu": model,
            "kernel": platform.release(), "os": platform.freedesktop_os_release().get(
                "PRETTY_NAME", "") if hasattr(platform, "freedesktop_os_release") else ""}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--raw", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args()
    raw, out = args.raw, args.out

    ingest = parse_ingest((raw / "ingest.log").read_text())
    py = json.loads((raw / "python-stack.json").read_text())
    outbox = parse_outbox((raw / "outbox.log").read_text())
    soak, samples = read_soak(raw)
    meta = read_env(raw / "meta.env")
    commands = [c for c in (raw / "commands.txt").read_text().splitlines() if c.strip()]
    mach = machine()

    a = ingest["raw_consumer"]["rate"]
    b = ingest["daemon_raw"]["rate"]
    c = ingest["daemon_hermes"]["rate"]
    p_read = py["read_only"]["rate"]
    p_save = py["save_only"]["rate"]
    p_stack = py["stored"]["rate"]
    ratio_hermes = c / p_stack if p_stack else math.inf
    ratio_raw = b / p_stack if p_stack else math.inf
    python_ok = ratio_hermes >= PYTHON_TARGET

    load_s = soak["load_seconds"]
    judged = {
        "rss": judge(samples, load_s, "rss_kb", LIMIT_FACTOR["rss"]),
        "fds": judge(samples, load_s, "fds", LIMIT_FACTOR["fds"]),
        "wal": judge(samples, load_s, "wal_bytes", LIMIT_FACTOR["wal"]),
    }
    bounded = all(j["bounded"] for j in judged.values())
    complete = not soak["stopped_early"] and soak["exit_status"] == 0
    caught_up = soak["caught_up"]
    load_samples = [x for x in samples if x["phase"] == "load"]
    stored_rate = load_samples[-1]["stored"] / load_samples[-1]["t_s"] if load_s else 0
    # Kept pace: when the load stopped, at most KEPT_PACE_SECONDS of input was still unstored,
    # and the enqueues reached KEPT_PACE_PUBLISH of their requested rate.
    lag_seconds = soak["lag_to_store_at_stop"] / soak["rate"]
    db_first = samples[0]["db_bytes"]
    db_last = samples[-1]["db_bytes"]
    cpu_pct = 100 * soak["cpu_seconds"] / (load_s + soak["drain_seconds"]) if load_s else 0
    achieved = soak["produced"] / load_s if load_s else 0
    achieved_pub = soak["enqueued"] / load_s if load_s else 0
    kept_pace = (lag_seconds <= KEPT_PACE_SECONDS and
                 achieved_pub >= KEPT_PACE_PUBLISH * soak["publish_rate"])

    # ------------------------------------------------------------------------------ the table
    rows = []

    def row(part, figure, measured, target="", result=""):
        rows.append((part, figure, measured, target, result))

    n_msgs = f0(ingest["messages"])
    row("ingest", f"raw librdkafka consumer, no storage ({n_msgs} msgs)", f"{f0(a)} msg/s",
        "same-run ceiling")
    row("ingest", "tomstreamd, raw handler (WAL, synchronous=FULL)", f"{f0(b)} msg/s",
        ">= 100,000 msg/s", ingest["verdicts"].get("(b) >= 100000 msg/s", ""))
    row("ingest", "tomstreamd, hermes handler (targets, photometry rows)", f"{f0(c)} msg/s",
        "(comparison)")
    row("ingest", "tomstreamd raw / raw consumer (b/a)", f"{b / a:.2f}", ">= 0.3",
        ingest["verdicts"].get("b/a >= 0.3", ""))
    row("ingest", "tomstreamd hermes / raw consumer (c/a)", f"{c / a:.2f}", "(comparison)")
    rss_raw, rss_hermes = (ingest[k]["peak_rss_mb"] or 0 for k in ("daemon_raw", "daemon_hermes"))
    row("ingest", "tomstreamd peak RSS (VmHWM), raw / hermes",
        f"{rss_raw:.1f} / {rss_hermes:.1f} MB",
        "<= 64 MB", ingest["verdicts"].get("peak RSS <= 64 MB", ""))
    row("python", f"hop-client {py['versions']['hop-client']} consumer alone, nothing stored "
        f"({f0(py['read_only']['messages'])} msgs)", f"{f0(p_read)} msg/s", "(comparison)")
    row("python", f"one INSERT + commit per message alone, no Kafka "
        f"({f0(py['save_only']['messages'])} msgs)", f"{f0(p_save)} msg/s", "(comparison)")
    row("python", f"Python stack: hop-client + one save per message "
        f"({f0(py['stored']['messages'])} msgs)", f"{f0(p_stack)} msg/s", "(comparison)")
    row("ratio", "tomstreamd hermes handler / Python stack", f"{ratio_hermes:.1f}x",
        f">= {PYTHON_TARGET}x", verdict(python_ok))
    row("ratio", "tomstreamd raw handler / Python stack", f"{ratio_raw:.1f}x",
        f">= {PYTHON_TARGET}x", verdict(ratio_raw >= PYTHON_TARGET))
    for r in outbox["rows"]:
        row("outbox", r["figure"], r["measured"], r["target"], r["verdict"])
    if outbox["delivery_vs_raw"] is not None:
        row("outbox", "(b) tomstreamd delivery / raw producer", f"{outbox['delivery_vs_raw']:.2f}",
            "(comparison)")
    row("soak", f"ingest rate: half the hermes-handler rate, {soak['handler']} handler",
        f"{f0(soak['rate'])} msg/s requested, {f0(achieved)} produced", "")
    row("soak", "EnqueuePhotometry over gRPC to a kind = \"kafka\" destination",
        f"{f0(soak['publish_rate'])} calls/s requested, {achieved_pub:,.1f} achieved", "")
    row("soak", "duration of the load / sample interval",
        f"{load_s:.0f} s / {soak['sample_seconds']} s", "")
    row("soak", "messages produced / stored", f"{f0(soak['produced'])} / {f0(soak['stored'])}",
        "all stored", verdict(soak["stored"] >= soak["produced"]))
    row("soak", "photometry enqueued / delivered (failed calls)",
        f"{f0(soak['enqueued'])} / {f0(soak['delivered'])} ({soak['publish_failures']})",
        "all delivered", verdict(soak["delivered"] >= soak["enqueued"] and
                                 soak["publish_failures"] == 0))
    row("soak", "enqueue->ack during the soak: p50 / p99 / max",
        f"{soak['enqueue_ack_ms_p50']:.2f} / {soak['enqueue_ack_ms_p99']:.2f} / "
        f"{soak['enqueue_ack_ms_max']:.2f} ms", "(comparison: outbox (c) above)")
    row("soak", "lag when the load stopped: to store / to deliver",
        f"{f0(soak['lag_to_store_at_stop'])} msgs / {f0(soak['lag_to_deliver_at_stop'])} entries",
        "")
    row("soak", "messages stored per second during the load", f"{f0(stored_rate)} msg/s",
        f"{f0(soak['rate'])} msg/s produced")
    row("soak", "kept pace during the load: input unstored at its end; enqueue rate reached",
        f"{lag_seconds:.1f} s; {100 * achieved_pub / soak['publish_rate']:.0f}%",
        f"<= {KEPT_PACE_SECONDS} s; >= {100 * KEPT_PACE_PUBLISH:.0f}%", verdict(kept_pace))
    row("soak", "caught up after the load (everything stored and delivered)",
        f"in {soak['drain_seconds']:.1f} s" if caught_up
        else f"NOT within {soak['drain_seconds']:.0f} s", "", verdict(caught_up))
    names = {"rss": ("VmRSS", 1 / 1024, "MB"), "fds": ("open fds", 1, ""),
             "wal": ("WAL file", 1 / 1048576, "MB")}
    for key, (name, scale, unit) in names.items():
        j = judged[key]
        fmt = (lambda v: f"{v * scale:.1f}") if unit else (lambda v: f"{v:.0f}")
        slope_fmt = f"{j['per_minute'] * scale:+.2f}" if unit else f"{j['per_minute']:+.2f}"
        row("soak", f"{name}: first / first-minute / max / last{' (' + unit + ')' if unit else ''}"
            f"; end slope per minute; projected after another soak",
            f"{fmt(j['first'])} / {fmt(j['base'])} / {fmt(j['max'])} / {fmt(j['last'])}; "
            f"{slope_fmt}; {fmt(j['projected'])}",
            f"max and projected <= {fmt(j['limit'])}",
            "bounded" if j["bounded"] else "NOT bounded")
    row("soak", "database file: start / end",
        f"{db_first / 1048576:.0f} / {db_last / 1048576:,.0f} MB",
        "grows with the data (not a leak)")
    row("soak", "tomstreamd CPU (user + system) during the soak", f"{cpu_pct:.0f}% of one core",
        "")
    row("soak", "tomstreamd stopped by SIGTERM", f"exit status {soak['exit_status']}", "0",
        verdict(soak["exit_status"] == 0))

    soak_verdict = ("bounded" if bounded else "NOT bounded") + (
        "" if complete else f" (run incomplete: {soak['stopped_early'] or 'unclean exit'})")

    # ------------------------------------------------------------------------------ the plot
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(19, 9.5))
    ax = axes[0][0]
    labels = ["raw librdkafka consumer\n(no storage)", "tomstreamd\nraw handler",
              "tomstreamd\nhermes handler", "hop-client alone\n(no storage)",
              "save per message alone\n(no Kafka)", "Python stack\n(hop-client + save)"]
    values = [a, b, c, p_read, p_save, p_stack]
    colors = ["#9e9e9e", "#1f77b4", "#1f77b4", "#ffbf80", "#ffbf80", "#ff7f0e"]
    bars = ax.barh(range(len(values)), values, color=colors)
    ax.set_xscale("log")
    ax.set_yticks(range(len(values)), labels, fontsize=8)
    ax.invert_yaxis()
    for bar, v in zip(bars, values):
        ax.text(v * 1.08, bar.get_y() + bar.get_height() / 2, f"{v:,.0f}", va="center", fontsize=8)
    ax.set_xlim(min(values) / 2, max(values) * 6)
    ax.set_xlabel("messages/s (log scale), same broker and topic")
    ax.set_title(f"Ingest: tomstreamd hermes / Python stack = {ratio_hermes:.1f}x "
                 f"(target >= {PYTHON_TARGET}x)", fontsize=10)

    t_min = [s["t_s"] / 60 for s in samples]

    def soak_plot(ax, key, scale, label, j, factor, extra=None):
        ax.plot(t_min, [s[key] * scale for s in samples], marker=".", markersize=3, label=label)
        ax.axvspan(0, j["window"] / 60, color="#dddddd", alpha=0.6, label="first-minute window")
        ax.axhline(j["limit"] * scale, color="red", linestyle="--", linewidth=1,
                   label=f"bound: {factor}x first-minute level")
        ax.axvline(load_s / 60, color="black", linestyle=":", linewidth=1, label="load stops")
        ax.set_ylim(bottom=0, top=max(j["limit"], j["max"]) * scale * 1.15)
        ax.set_xlabel("minutes")
        ax.set_ylabel(label)
        ax.set_title(f"Soak: {label}: {'bounded' if j['bounded'] else 'NOT bounded'}",
                     fontsize=10)
        if extra:
            extra(ax)
        ax.legend(fontsize=7, loc="lower right")

    soak_plot(axes[0][1], "rss_kb", 1 / 1024, "VmRSS (MB)", judged["rss"], LIMIT_FACTOR["rss"])
    soak_plot(axes[0][2], "fds", 1, "open file descriptors", judged["fds"], LIMIT_FACTOR["fds"])

    def db_axis(ax):
        twin = ax.twinx()
        twin.plot(t_min, [s["db_bytes"] / 1073741824 for s in samples], color="#2ca02c",
                  linestyle="-.", linewidth=1)
        twin.set_ylabel("database file (GB, dash-dot)", color="#2ca02c")

    soak_plot(axes[1][1], "wal_bytes", 1 / 1048576, "WAL file (MB)", judged["wal"],
              LIMIT_FACTOR["wal"], db_axis)

    # Pace: input not stored yet, and enqueues/s between samples.
    ax = axes[1][0]
    ax.plot(t_min, [max(0, x["produced"] - x["stored"]) for x in samples], marker=".",
            markersize=3, label="produced, not yet stored (messages)")
    ax.axvline(load_s / 60, color="black", linestyle=":", linewidth=1, label="load stops")
    ax.set_xlabel("minutes")
    ax.set_ylabel("messages not yet stored")
    ax.set_ylim(bottom=0)
    ax.set_title(f"Soak: pace ({'kept pace' if kept_pace else 'fell behind'}; "
                 f"{'caught up' if caught_up else 'did NOT catch up'} after the load)",
                 fontsize=10)
    pairs = list(zip(samples, samples[1:]))
    twin = ax.twinx()
    twin.plot([y["t_s"] / 60 for _, y in pairs],
              [(y["enqueued"] - x["enqueued"]) / (y["t_s"] - x["t_s"]) if y["t_s"] > x["t_s"]
               else 0 for x, y in pairs], color="#ff7f0e", linewidth=1)
    twin.axhline(soak["publish_rate"], color="#ff7f0e", linestyle="--", linewidth=0.8)
    twin.set_ylim(bottom=0, top=soak["publish_rate"] * 1.3)
    twin.set_ylabel("enqueues/s accepted (orange; dashed: requested)", color="#ff7f0e")
    ax.legend(fontsize=7, loc="upper left")

    ax = axes[1][2]
    ax.plot([y["t_s"] / 60 for _, y in pairs],
            [100 * (y["cpu_s"] - x["cpu_s"]) / (y["t_s"] - x["t_s"]) if y["t_s"] > x["t_s"]
             else 0 for x, y in pairs], marker=".", markersize=3)
    ax.axvline(load_s / 60, color="black", linestyle=":", linewidth=1)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("minutes")
    ax.set_ylabel("% of one core")
    ax.set_title(f"Soak: tomstreamd CPU (user + system), {mach['nproc']} cores shared",
                 fontsize=10)
    fig.suptitle(f"tomstream benchmarks, {meta.get('started_utc', '')}: {mach['nproc']} CPUs, "
                 f"{mach['mem_gib']:.1f} GiB; soak {load_s / 60:.1f} min at "
                 f"{f0(soak['rate'])} msg/s in + {f0(soak['publish_rate'])} publishes/s out",
                 fontsize=11)
    fig.tight_layout()
    out.mkdir(parents=True, exist_ok=True)
    fig.savefig(out / "report.png", dpi=110)

    # -------------------------------------------------------------------------- the markdown
    md = []
    md.append("# tomstream benchmark report\n")
    md.append(f"- Date: {meta.get('started_utc', '?')} to {meta.get('finished_utc', '?')} (UTC); "
              f"mode: {meta.get('mode', '?')}")
    md.append(f"- Machine: {mach['nproc']} CPUs ({mach['cpu']}), {mach['mem_gib']:.1f} GiB "
              f"memory, {mach['os']}, kernel {mach['kernel']}; load average at start "
              f"{meta.get('loadavg_start', '?')}, at end {meta.get('loadavg_end', '?')} (the "
              "machine is shared: absolute figures are noisy, so every figure is compared with "
              "one measured in the same run)")
    md.append(f"- tomstreamd: {meta.get('tomstreamd_version', '?')}, revision "
              f"{meta.get('revision', '?')}")
    v = py["versions"]
    md.append(f"- Python stack: Python {v['python']}, hop-client {v['hop-client']}, "
              f"confluent-kafka {v['confluent-kafka']} (librdkafka {v['librdkafka']}), "
              f"SQLite {v['sqlite']}")
    md.append(f"- One private broker (tests/kafka/broker.sh, Kafka 3.9.1 on 127.0.0.1) for "
              f"everything; the Python stack read the first {f0(py['stored']['messages'])} of "
              f"the {n_msgs} messages tomstreamd ingested (topic `{ingest['topic']}`, "
              f"~{ingest['payload_bytes']}-byte hop-format Hermes JSON with `_id` headers)\n")
    md.append("## Results\n")
    md.append(f"**tomstreamd / Python stack: {ratio_hermes:.1f}x** with the hermes handler "
              f"({ratio_raw:.1f}x with the raw handler); target >= {PYTHON_TARGET}x: "
              f"**{verdict(python_ok)}**.  ")
    caught_text = f" (in {soak['drain_seconds']:.1f} s)" if caught_up else ""
    md.append(f"**Soak: {soak_verdict}**; kept pace with the load: "
              f"**{'yes' if kept_pace else 'NO'}** ({lag_seconds:.1f} s of input unstored when "
              f"it stopped; {achieved_pub:,.1f} of {f0(soak['publish_rate'])} enqueues/s); "
              f"caught up after it: **{'yes' if caught_up else 'NO'}**"
              f"{caught_text}.\n")
    md.append("| part | figure | measured | target / comparison | result |")
    md.append("|---|---|---|---|---|")
    for part, figure, measured, target, result in rows:
        md.append(f"| {part} | {figure.strip()} | {measured} | {target} | {result} |")
    md.append("")
    if outbox["notes"]:
        md.append("Outbox benchmark summary lines:\n")
        for n in outbox["notes"]:
            md.append(f"- {n}")
        md.append("")
    md.append("![ingest rates and the soak's resources](report.png)\n")
    md.append("## How the figures are made\n")
    md.append("- Ingest (bench/ingest_bench.cc): N messages are produced to one topic, then read "
              "by a raw librdkafka consumer, by tomstreamd with the raw handler and with the "
              "hermes handler (each a fresh store); rates from the first message seen or stored "
              "to the last.")
    md.append("- Python stack (bench/python_stack.py): hop-client's consumer (hop.io.Stream, "
              "read(metadata=True)) storing every message as tom-alertstreams does: the topic's "
              "handler called per message, one Django-style save (an INSERT committed on its "
              "own, WAL, synchronous=FULL) per message. Django's own per-save work and "
              "tom-alertstreams' FIFO trim are left out, so the ratio is a lower bound. The two "
              "component rates show where its time goes: hop-client's consumer alone is held "
              "back by its consumer settings (queued.min.messages = 1000) meeting librdkafka "
              "2.x's fetch.queue.backoff.ms (1 s by default), and the save alone by one fsync "
              "per message.")
    md.append("- Outbox (bench/outbox_bench.cc): see its header; figures and targets as it "
              "prints them.")
    md.append(f"- Soak (bench/soak_bench.cc): one tomstreamd with a route ({soak['handler']} "
              f"handler) on a topic a producer fills at {f0(soak['rate'])} msg/s (half the "
              f"hermes handler's rate measured above) while 4 gRPC client threads enqueue "
              f"photometry, one message per call, {f0(soak['publish_rate'])} calls/s in all, to a "
              f"kind = \"kafka\" destination on the same broker, for {load_s:.0f} s; every "
              f"{soak['sample_seconds']} s VmRSS, the entries of /proc/PID/fd and the size of "
              "the store's -wal file are sampled; then the load stops and the daemon must store "
              "and deliver everything (bounded wait). Kept pace: at most "
              f"{KEPT_PACE_SECONDS} s of input unstored when the load stops, and at least "
              f"{100 * KEPT_PACE_PUBLISH:.0f}% of the requested enqueue rate reached.")
    md.append(f"- Bounded: {SOAK_RULE}\n")
    md.append("## Commands\n")
    md.append("```")
    md.extend(commands)
    md.append("```\n")
    md.append("Raw outputs: bench/results/raw/ (ingest.log, python-stack.json, outbox.log, "
              "soak.log, soak.json, soak.csv).\n")
    (out / "report.md").write_text("\n".join(md))

    print(f"tomstreamd hermes / Python stack = {ratio_hermes:.1f}x (raw handler {ratio_raw:.1f}x); "
          f"target >= {PYTHON_TARGET}x: {verdict(python_ok)}")
    for key, (name, scale, unit) in names.items():
        j = judged[key]
        print(f"soak {name}: first {j['first'] * scale:.1f} first-minute {j['base'] * scale:.1f} "
              f"max {j['max'] * scale:.1f} last {j['last'] * scale:.1f} {unit}; end slope "
              f"{j['per_minute'] * scale:+.2f} {unit}/min, projected {j['projected'] * scale:.1f} "
              f"(bound {j['limit'] * scale:.1f}): "
              f"{'bounded' if j['bounded'] else 'NOT bounded'}")
    print(f"soak: {soak_verdict}; kept pace: {'yes' if kept_pace else 'NO'} "
          f"({lag_seconds:.1f} s of input unstored at the end of the load, {achieved_pub:.1f} "
          f"enqueues/s); caught up after it: {'yes' if caught_up else 'NO'}")
    print(f"wrote {out / 'report.md'} and {out / 'report.png'}")


if __name__ == "__main__":
    main()
