/**
 * Per-layer progress display for pull and push. On a TTY each layer has one line redrawn in
 * place (`abc123def456: downloading [=====>     ] 1.2MB/4.5MB`); in a pipe one line is printed
 * per state change of a layer (never per byte); `quiet` prints nothing.
 */
import type { LayerProgress } from '../api/index.js';
import type { OutStream } from './context.js';
import { humanSize } from './format.js';


interface LayerLine {
  status: string;
  current?: number;
  total?: number;
}

export class ProgressRenderer {
  private readonly order: string[] = [];
  private readonly layers = new Map<string, LayerLine>();
  private drawnLines = 0;
  private readonly tty: boolean;
  private lastDraw = 0;

  constructor(
    private readonly out: OutStream,
    private readonly mode: 'auto' | 'quiet' = 'auto',
    private readonly now: () => number = Date.now,
  ) {
    this.tty = out.isTTY === true;
  }

  update(ev: Partial<LayerProgress>): void {
    if (this.mode === 'quiet' || ev.id === undefined || ev.status === undefined) return;
    const prev = this.layers.get(ev.id);
    if (!prev) this.order.push(ev.id);
    const line: LayerLine = { status: ev.status };
    if (ev.current !== undefined) line.current = ev.current;
    if (ev.total !== undefined) line.total = ev.total;
    this.layers.set(ev.id, line);
    if (this.tty) {
      // Byte progress is throttled to ~10 redraws a second; state changes draw at once.
      const stateChange = !prev || prev.status !== line.status;
      const t = this.now();
      if (!stateChange && t - this.lastDraw < 100) return;
      this.lastDraw = t;
      this.redraw();
    } else if (!prev || prev.status !== line.status) {
      this.out.write(`${ev.id}: ${statusText(line)}\n`);
    }
  }

  /** Draws the final state of every layer (TTY only). */
  finish(): void {
    if (this.mode !== 'quiet' && this.tty && this.order.length > 0) this.redraw();
  }

  private redraw(): void {
    const width = Math.max(40, (this.out.columns ?? 80) - 1);
    let s = this.drawnLines > 0 ? `\x1b[${this.drawnLines}A` : '';
    for (const id of this.order) {
      const l = this.layers.get(id);
      if (!l) continue;
      s += `\r\x1b[2K${`${id}: ${statusText(l, true)}`.slice(0, width)}\n`;
    }
    this.drawnLines = this.order.length;
    this.out.write(s);
  }
}

const LABELS: Record<string, string> = {
  waiting: 'Waiting',
  downloading: 'Downloading',
  verifying: 'Verifying',
  extracting: 'Extracting',
  done: 'Pull complete',
  exists: 'Already exists',
  uploading: 'Pushing',
  pushed: 'Pushed',
  mounted: 'Layer already exists',
};

export function statusText(l: LayerLine, bar = false): string {
  const label = LABELS[l.status] ?? l.status;
  if ((l.status === 'downloading' || l.status === 'uploading' || l.status === 'extracting') && l.total) {
    const cur = Math.min(l.current ?? 0, l.total);
    const amount = `${humanSize(cur)}/${humanSize(l.total)}`;
    if (!bar) return `${label} ${amount}`;
    const cells = 30;
    const filled = Math.floor((cur / l.total) * cells);
    const arrow = filled >= cells ? '=' : '>';
    return `${label.padEnd(12)}[${'='.repeat(Math.max(0, filled - 1))}${filled > 0 ? arrow : ''}${' '.repeat(cells - filled)}] ${amount}`;
  }
  return label;
}
