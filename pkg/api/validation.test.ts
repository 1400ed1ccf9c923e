import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  cronProblem, imageReferenceProblem, validateNode, validateService, validateTask, validateTaskStatus, invalidError,
} from './validation.js';

const here = import.meta.dirname;

function cases(dir: string): { file: string; text: string }[] {
  const d = join(here, 'testdata', dir);
  return readdirSync(d)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((file) => ({ file, text: readFileSync(join(d, file), 'utf8') }));
}

describe('golden invalid services', () => {
  const invalid = cases('invalid');
  it('has at least 40 cases', () => {
    expect(invalid.length).toBeGreaterThanOrEqual(40);
  });
  for (const { file, text } of invalid) {
    it(file, () => {
      const header = /^# expect: (.+)$/m.exec(text);
      expect(header, `${file} needs a "# expect:" header`).not.toBeNull();
      const expected = (header?.[1] ?? '').split(',').map((s) => s.trim()).sort();
      const causes = validateService(parse(text));
      const got = [...new Set(causes.map((c) => c.field))].sort();
      expect(got).toEqual(expected);
      for (const c of causes) {
        expect(c.reason).toMatch(/^FieldValue(Required|Invalid|NotSupported|Duplicate|TooLong|Forbidden|NotFound)$/);
        expect(c.message.length).toBeGreaterThan(0);
      }
    });
  }
});

describe('golden valid services', () => {
  for (const { file, text } of cases('valid')) {
    it(file, () => {
      expect(validateService(parse(text))).toEqual([]);
    });
  }
});

describe('validateService', () => {
  it('rejects non-objects without throwing', () => {
    for (const v of [null, 1, 'x', [], true, undefined]) expect(validateService(v).length).toBeGreaterThan(0);
  });
  it('names every field, whatever the keys (found by fuzzing: an empty field named the root, `spec.` and `a.b` were ambiguous)', () => {
    expect(validateService([]).map((c) => c.field)).toEqual(['<root>']);
    const long = 'k'.repeat(5000);
    const causes = validateService({ apiVersion: 'shoal/v1', kind: 'Service', metadata: { name: 'web', labels: { 'a b': 'x' } }, spec: { [long]: 1, '0': 1, 'x"]': 1, template: { spec: { containers: [{ name: 'a', image: 'x' }] } } } });
    const fields = causes.map((c) => c.field);
    expect(fields).toContain('metadata.labels["a b"]');
    expect(fields).toContain('spec["0"]');
    expect(fields).toContain('spec["x\\"]"]');
    expect(fields).toContain(`spec["${'k'.repeat(200)}…"]`);
    for (const f of fields) expect(f).not.toBe('');
  });
  it('uses the right reasons', () => {
    const causes = validateService({
      apiVersion: 'shoal/v1',
      kind: 'Service',
      metadata: { name: 'web' },
      spec: { mode: 'global', replicas: 2, template: { spec: { containers: [{ name: 'a', image: 'x' }, { name: 'a' }] } } },
    });
    const by = Object.fromEntries(causes.map((c) => [c.field, c.reason]));
    expect(by['spec.replicas']).toBe('FieldValueForbidden');
    expect(by['spec.template.spec.containers[1].name']).toBe('FieldValueDuplicate');
    expect(by['spec.template.spec.containers[1].image']).toBe('FieldValueRequired');
  });
  it('invalidError builds a 422 with every cause', () => {
    const causes = validateService({});
    const e = invalidError('Service', undefined, causes);
    expect(e.code).toBe('Invalid');
    expect(e.causes).toHaveLength(causes.length);
  });
});

describe('image references', () => {
  it.each(['busybox', 'busybox:1.36', 'registry:5000/team/app:1.2', 'localhost/app', 'a.b/c/d_e__f-g:v1.0-rc',
    'nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef', '[::1]:5000/x'])('accepts %s', (r) => {
    expect(imageReferenceProblem(r)).toBeUndefined();
  });
  it.each(['', 'Busybox', 'a b', 'x:', 'x/:y', 'a//b', 'nginx@sha256:short', '-x', 'x:.bad'])('rejects %j', (r) => {
    expect(imageReferenceProblem(r)).toBeDefined();
  });
});

describe('cron', () => {
  it.each(['* * * * *', '0 0 1 1 0', '*/5 1-5 * * mon-fri', '@daily', '0 0 * * 7', '5,10,15 * * * *'])('accepts %s', (e) => {
    expect(cronProblem(e)).toBeUndefined();
  });
  it.each(['', '* * * *', '60 * * * *', '* 24 * * *', '* * 0 * *', '* * * 13 *', '*/0 * * * *', '5-1 * * * *', 'a b c d e', '@often'])(
    'rejects %j',
    (e) => {
      expect(cronProblem(e)).toBeDefined();
    },
  );
});

describe('nodes and tasks', () => {
  const node = {
    apiVersion: 'shoal/v1',
    kind: 'Node',
    metadata: { name: 'n1.example' },
    spec: { availability: 'active', labels: { zone: 'a' }, podCIDR: '10.244.1.0/24' },
    status: {
      state: 'ready',
      addresses: [{ type: 'InternalIP', address: '10.0.0.1' }],
      capacity: { cpu: '2', memory: '4Gi', pods: 110 },
      lastHeartbeat: '2026-01-01T00:00:00.000Z',
      info: { cgroupVersion: 1 },
    },
  };
  it('accepts a good node', () => {
    expect(validateNode(node, { status: true })).toEqual([]);
  });
  it('reports every node problem', () => {
    const bad = {
      ...node,
      metadata: { name: 'N1', namespace: 'x' },
      spec: { availability: 'off', podCIDR: '10.0.0.0/40' },
      status: { state: 'up', capacity: { cpu: 'lots' }, info: { cgroupVersion: 3 } },
    };
    const fields = validateNode(bad, { status: true }).map((c) => c.field).sort();
    expect(fields).toEqual([
      'metadata.name', 'metadata.namespace', 'spec.availability', 'spec.podCIDR', 'status.capacity.cpu', 'status.info.cgroupVersion', 'status.state',
    ]);
  });
  it('checks task status writes', () => {
    expect(validateTaskStatus({ state: 'running', ip: '10.0.0.2', exitCode: 0, startedAt: '2026-01-01T00:00:00Z' })).toEqual([]);
    const fields = validateTaskStatus({ state: 'sleeping', ip: 'x', exitCode: 1.5, startedAt: 'yesterday', extra: 1 }).map((c) => c.field).sort();
    expect(fields).toEqual(['status.exitCode', 'status.extra', 'status.ip', 'status.startedAt', 'status.state']);
    expect(validateTaskStatus({}).map((c) => c.field)).toEqual(['status.state']);
  });
  it('checks tasks', () => {
    const task = {
      apiVersion: 'shoal/v1',
      kind: 'Task',
      metadata: { name: 'web.1.abc123', namespace: 'default' },
      spec: { serviceName: 'web', serviceGeneration: 1, slot: 1, desiredState: 'running', template: { spec: { containers: [{ name: 'web', image: 'nginx' }] } } },
      status: { state: 'new' },
    };
    expect(validateTask(task, { status: true })).toEqual([]);
    expect(validateTask({ ...task, spec: { ...task.spec, desiredState: 'gone' } }).map((c) => c.field)).toEqual(['spec.desiredState']);
  });
});
