import { describe, expect, it } from 'vitest';
import { ControllerMetrics } from './metrics.js';

describe('ControllerMetrics', () => {
  it('computes state gauges from callbacks at scrape time', async () => {
    const m = new ControllerMetrics();
    let running = 3;
    m.setStateSources({ tasks: () => [['running', running], ['pending', 1]] });
    let text = await m.text();
    expect(text).toContain('shoal_tasks{state="running"} 3');
    expect(text).toContain('shoal_tasks{state="pending"} 1');
    running = 5;
    m.setStateSources({ nodes: () => new Map([['ready', 2]]) });
    text = await m.text();
    expect(text).toContain('shoal_tasks{state="running"} 5');
    expect(text).toContain('shoal_nodes{state="ready"} 2');
  });
  it('two instances do not collide', async () => {
    const a = new ControllerMetrics();
    const b = new ControllerMetrics();
    a.watches.inc(2);
    expect(await a.text()).toContain('shoal_api_watches 2');
    expect(await b.text()).toContain('shoal_api_watches 0');
  });
});
