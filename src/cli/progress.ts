import { SingleBar } from 'cli-progress';

// A progress bar on stderr for long operator commands: counts, rate and ETA. Only on a terminal (stdout
// stays one JSON document with --json); elsewhere a line at most every few seconds, so logs of a long run in
// a job runner still show it moving.

export interface Progress {
  update(done: number, total: number): void;
  stop(): void;
}

export function progressBar(label: string, unit: string): Progress {
  const started = Date.now();
  const rate = (done: number) => Math.round(done / Math.max(0.001, (Date.now() - started) / 1000));
  if (!process.stderr.isTTY) {
    let lastLine = 0;
    return {
      update(done, total) {
        if (Date.now() - lastLine < 5_000 && done < total) return;
        lastLine = Date.now();
        process.stderr.write(`${label}: ${done}/${total} ${unit} (${rate(done)}/s)\n`);
      },
      stop() {},
    };
  }
  const bar = new SingleBar({
    stream: process.stderr,
    format: `${label} [{bar}] {value}/{total} ${unit} | {rate}/s | ETA {eta_formatted}`,
    barCompleteChar: '█',
    barIncompleteChar: '░',
    hideCursor: true,
  });
  let started_ = false;
  return {
    update(done, total) {
      if (!started_) {
        bar.start(total, done, { rate: 0 });
        started_ = true;
      }
      bar.setTotal(total);
      bar.update(done, { rate: rate(done) });
    },
    stop() {
      if (started_) bar.stop();
    },
  };
}
