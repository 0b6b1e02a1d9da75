//! REPORT parsing throughput (floor: 1,000,000 lines per second), over a
//! realistic mix: cold and warm text REPORTs with and without trailing
//! tabs, START/END noise, and JSON platform.report records.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use perfharness::platform::{parse_line, parse_text, LineOutcome};
use std::hint::black_box;

fn corpus() -> Vec<String> {
    let mut v = Vec::new();
    for i in 0..1000 {
        let id = format!("{:08x}-1c2d-4e5f-8a9b-{:012x}", i, i * 7919);
        v.push(format!("START RequestId: {id} Version: $LATEST"));
        if i % 10 == 0 {
            v.push(format!(
                "REPORT RequestId: {id}\tDuration: {}.{:02} ms\tBilled Duration: {} ms\tMemory Size: 256 MB\tMax Memory Used: 41 MB\tInit Duration: 21.{:02} ms\t",
                3 + i % 50, i % 100, 25 + i % 50, i % 100
            ));
        } else {
            v.push(format!(
                "REPORT RequestId: {id}\tDuration: {}.{:02} ms\tBilled Duration: {} ms\tMemory Size: 256 MB\tMax Memory Used: 41 MB",
                1 + i % 50, i % 100, 2 + i % 50
            ));
        }
        v.push(format!("END RequestId: {id}"));
    }
    v
}

fn bench(c: &mut Criterion) {
    let lines = corpus();
    let reports: Vec<&String> = lines.iter().filter(|l| l.starts_with("REPORT")).collect();
    let mut g = c.benchmark_group("report_parse");
    g.sample_size(10)
        .measurement_time(std::time::Duration::from_secs(3));
    g.throughput(Throughput::Elements(reports.len() as u64));
    g.bench_function("text_report_lines", |b| {
        b.iter(|| {
            let mut n = 0;
            for l in &reports {
                if let LineOutcome::Record(r) = parse_line(black_box(l)) {
                    n += r.billed_duration_ms.unwrap_or(0);
                }
            }
            n
        })
    });
    g.throughput(Throughput::Elements(lines.len() as u64));
    let text = lines.join("\n");
    g.bench_function("mixed_log_text", |b| {
        b.iter(|| parse_text(black_box(&text)).records.len())
    });
    let json: Vec<String> = (0..1000)
        .map(|i| format!(r#"{{"time":"2024-12-28T19:04:46.553Z","type":"platform.report","record":{{"requestId":"{i:08x}-aaaa","metrics":{{"durationMs":{}.5,"billedDurationMs":{},"memorySizeMB":256,"maxMemoryUsedMB":41}},"status":"success"}}}}"#, i % 50, i % 50 + 1))
        .collect();
    g.throughput(Throughput::Elements(json.len() as u64));
    g.bench_function("json_platform_report", |b| {
        b.iter(|| {
            json.iter()
                .filter(|l| matches!(parse_line(black_box(l)), LineOutcome::Record(_)))
                .count()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
