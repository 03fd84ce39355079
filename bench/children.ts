// Child processes of the benchmark: each service runs in its own Node process so that the
// process under measurement carries only its own CPU and memory.
import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = path.resolve(BENCH_DIR, '..');
export const RESULTS_DIR = path.join(BENCH_DIR, 'results');

export interface Child<M> {
  proc: ChildProcess;
  /** The first message the child sent (its address, or its result). */
  ready: Promise<M>;
  /** Sends `msg` and waits for the next message. */
  ask<R>(msg: unknown): Promise<R>;
  /** Resolves when the child has exited by itself. */
  exited: Promise<void>;
  /** Ends the child (by its PID) and waits for its exit. */
  stop(): Promise<void>;
}

/** Forks `file` (a .ts file through tsx, or a bundled .mjs) with a JSON parameter. */
export function forkChild<M>(file: string, param: unknown, options: { execArgv?: string[] } = {}): Child<M> {
  const ts = file.endsWith('.ts');
  const proc = fork(file, [JSON.stringify(param)], {
    execArgv: [...(ts ? ['--import', 'tsx'] : []), '--no-warnings', ...(options.execArgv ?? [])],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    cwd: REPO_ROOT,
  });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const next = <R>() =>
    new Promise<R>((resolve, reject) => {
      const onMessage = (m: unknown) => {
        proc.off('exit', onExit);
        resolve(m as R);
      };
      const onExit = (code: number | null, signal: string | null) => {
        proc.off('message', onMessage);
        reject(new Error(`${path.basename(file)} exited (${code ?? signal}) before answering`));
      };
      proc.once('message', onMessage);
      proc.once('exit', onExit);
    });
  const ready = next<M>();
  ready.catch(() => undefined);
  return {
    proc,
    ready,
    exited,
    ask<R>(msg: unknown) {
      const answer = next<R>();
      proc.send(msg as never);
      return answer;
    },
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null && proc.pid) process.kill(proc.pid, 'SIGTERM');
      await exited;
    },
  };
}

/** In a child: the JSON parameter given by forkChild. */
export function childParam<T>(): T {
  return JSON.parse(process.argv[2] ?? '{}') as T;
}

/** In a child: sends `msg` to the parent. */
export function tell(msg: unknown): Promise<void> {
  return new Promise(
    (resolve, reject) =>
      process.send?.(msg as never, undefined, undefined, (err) => (err ? reject(err) : resolve())) ?? resolve(),
  );
}
