//! The stdout view of a [`Report`]: a readable block that ends with the verdict.

use std::fmt::Write;

use super::Report;
use crate::placement::{counted, cpu_list};

/// The lines of the block, key and value in two columns.
struct Block(String);

impl Block {
    fn line(&mut self, key: &str, value: String) {
        let _ = writeln!(self.0, "  {key:<18} {value}");
    }
}

/// Renders the report; `files` names the report files written, if any.
pub fn render(r: &Report, files: &str) -> String {
    let mut b = Block(String::new());
    estimate(&mut b, r);
    placement(&mut b, r);
    context(&mut b, r);
    timings(&mut b, r, files);
    verdict(&mut b, r);
    format!("mcpi {} — Monte Carlo estimate of pi\n{}", r.version, b.0)
}

/// What was counted and what it says about π.
fn estimate(b: &mut Block, r: &Report) {
    b.line(
        "samples",
        format!("{} ({} batches of {})", r.samples, r.batches, r.batch_size),
    );
    if !r.complete {
        b.line(
            "INCOMPLETE",
            format!(
                "{} of {} batches ({} samples){}",
                r.batches_done,
                r.batches,
                r.samples_done,
                r.stopped_by
                    .as_ref()
                    .map_or(String::new(), |s| format!(", stopped by {s}"))
            ),
        );
    }
    if let Some(from) = &r.resumed_from {
        b.line(
            "resumed",
            format!("{} batches from {from}", r.resumed_batches),
        );
    }
    b.line("inside", r.inside.to_string());
    b.line("pi estimate", format!("{:.12}", r.pi_estimate));
    b.line("pi", format!("{:.12}", r.pi));
    b.line(
        "error",
        format!(
            "{:.3e} (relative {:.3e})",
            r.pi_estimate - r.pi,
            r.rel_error
        ),
    );
    b.line("std error", format!("{:.3e}", r.std_error));
    b.line(
        "95% interval",
        format!("[{:.12}, {:.12}]", r.ci95[0], r.ci95[1]),
    );
    b.line("z-score", format!("{:+.3}", r.z_score));
    b.line(
        "dispersion",
        r.dispersion.map_or("not tested (one batch)".into(), |d| {
            format!(
                "chi2 {:.1} on {} degrees of freedom, p = {:.3e}",
                d.chi2, d.dof, d.p_value
            )
        }),
    );
}

/// Seed, layout, kernel, ranks and hosts.
fn placement(b: &mut Block, r: &Report) {
    b.line("seed", r.seed.to_string());
    b.line("stream layout", r.stream_layout.clone());
    b.line("kernel", r.kernel.clone());
    b.line(
        "ranks",
        format!(
            "{} on {} host(s): {}{}",
            r.ranks,
            r.hosts.len(),
            r.hosts.join(", "),
            if r.oversubscribed {
                " (oversubscribed: more threads than CPUs)"
            } else {
                ""
            }
        ),
    );
    b.line("binding", binding(r));
    for o in &r.outliers {
        b.line("SLOW", o.sentence());
    }
    if r.per_host.len() > 1 {
        for h in &r.per_host {
            let ranks = match (h.ranks.first(), h.ranks.last()) {
                (Some(a), Some(b)) if h.ranks.len() as u64 == b - a + 1 && a != b => {
                    format!("ranks {a}-{b}")
                }
                _ => format!(
                    "rank(s) {}",
                    h.ranks
                        .iter()
                        .map(u64::to_string)
                        .collect::<Vec<_>>()
                        .join(",")
                ),
            };
            b.line(
                "  host",
                format!(
                    "{}: {ranks}, {:.4e} samples/s, compute max {:.3} s",
                    h.host, h.samples_per_second, h.compute_seconds.max
                ),
            );
        }
    }
}

/// Ranks × threads and where they ran, in one line: each rank's affinity mask
/// and the CPUs its threads finished on (the first four ranks), and how many
/// placement warnings there are.
fn binding(r: &Report) -> String {
    const SHOWN: usize = 4;
    let ranks: Vec<String> = r
        .per_rank
        .iter()
        .enumerate()
        .take(SHOWN)
        .map(|(i, rank)| {
            let mut ran: Vec<u32> = r
                .per_thread
                .iter()
                .filter(|t| t.rank == i as u64)
                .filter_map(|t| t.cpu)
                .collect();
            ran.sort_unstable();
            ran.dedup();
            format!(
                "rank {i} on {} (ran on {})",
                cpu_list(&rank.affinity),
                cpu_list(&ran)
            )
        })
        .collect();
    let more = if r.per_rank.len() > SHOWN {
        ", …"
    } else {
        ""
    };
    let warned = match r.placement_warnings.len() {
        0 => String::new(),
        1 => "; 1 placement warning".into(),
        n => format!("; {n} placement warnings"),
    };
    format!(
        "{} × {} = {} cores ({} from {}); {}{more}{warned}",
        counted(r.ranks, "rank"),
        counted(r.threads, "thread"),
        r.ranks * r.threads,
        r.threads,
        r.threads_from,
        ranks.join(", ")
    )
}

/// The label and the Slurm job.
fn context(b: &mut Block, r: &Report) {
    if let Some(label) = &r.label {
        b.line("label", label.clone());
    }
    if let Some(s) = &r.slurm {
        let opt = |v: Option<u64>| v.map_or("?".into(), |n| n.to_string());
        b.line(
            "slurm",
            format!(
                "job {}, {} node(s), {} task(s), {}",
                s.job_id,
                opt(s.nodes),
                opt(s.tasks),
                s.nodelist.as_deref().unwrap_or("?")
            ),
        );
    }
}

/// The times, the throughput and where the files went.
fn timings(b: &mut Block, r: &Report, files: &str) {
    b.line("started", r.started_at.clone());
    let c = &r.compute_seconds;
    b.line("setup", format!("{:.3} s", r.setup_seconds));
    b.line(
        "compute",
        format!(
            "{:.3} s min, {:.3} s mean, {:.3} s max",
            c.min, c.mean, c.max
        ),
    );
    b.line("reduce", format!("{:.3} s", r.reduce_seconds));
    b.line("write", format!("{:.3} s", r.write_seconds));
    b.line("wall", format!("{:.3} s", r.wall_seconds));
    b.line(
        "throughput",
        format!(
            "{:.4e} samples/s ({:.4e} per rank, {:.4e} per core)",
            r.samples_per_second, r.samples_per_second_per_rank, r.samples_per_second_per_core
        ),
    );
    b.line(
        "load imbalance",
        format!("{:.2}%", 100.0 * r.load_imbalance),
    );
    if !files.is_empty() {
        b.line("report", files.to_string());
    }
    if let Some(ck) = &r.checkpoint {
        b.line("checkpoint", ck.clone());
    }
}

/// The closing verdict line, and why it failed.
fn verdict(b: &mut Block, r: &Report) {
    let _ = writeln!(
        b.0,
        "{}{}: pi = {:.10} ± {:.2e} (95%), {:.2} sigma from pi",
        if r.complete {
            ""
        } else {
            "INCOMPLETE, so far "
        },
        r.verdict.as_str(),
        r.pi_estimate,
        crate::stats::Z95 * r.std_error,
        r.z_score.abs()
    );
    if r.verdict == crate::stats::Verdict::Fail {
        b.0.push_str(&format!("  because {}\n", r.verdict_reason));
    }
}
