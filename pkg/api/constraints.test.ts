import { describe, expect, it } from 'vitest';
import { constraintTargetOf, firstUnmet, matchConstraint, parseConstraint, parseConstraints, type ConstraintTarget } from './constraints.js';
import type { Node } from './types.js';
import { validateService } from './validation.js';

const node: Node = {
  apiVersion: 'shoal/v1',
  kind: 'Node',
  metadata: { name: 'n1', uid: 'uid-1' },
  spec: { labels: { zone: 'a' } },
  status: { state: 'ready', addresses: [{ type: 'Hostname', address: 'host-1' }], info: { os: 'linux', arch: 'amd64' } },
};
const target: ConstraintTarget = constraintTargetOf(node);

describe('placement constraints: one parser for validation and scheduling', () => {
  it('parses every attribute the docs name, and nothing else', () => {
    expect(parseConstraint('node.labels.zone==a')).toEqual({ text: 'node.labels.zone==a', attr: 'label', key: 'zone', op: '==', value: 'a' });
    expect(parseConstraint(' node.name != n1 ')).toMatchObject({ attr: 'name', op: '!=', value: 'n1' });
    for (const [text, attr] of [
      ['node.id==x', 'id'], ['node.hostname==x', 'hostname'], ['node.role==worker', 'role'],
      ['node.platform.os==linux', 'os'], ['node.platform.arch==arm64', 'arch'],
    ] as const) expect(parseConstraint(text)?.attr).toBe(attr);
    for (const bad of ['node.labels.zone=a', 'zone==a', 'node.name==', 'engine.labels.x==y', 'node.labels.==a', 'node.platform==linux']) {
      expect(parseConstraint(bad), bad).toBeUndefined();
    }
  });

  it('matches each attribute against the node', () => {
    const yes = ['node.name==n1', 'node.id==uid-1', 'node.hostname==host-1', 'node.role==worker', 'node.platform.os==linux', 'node.platform.arch==amd64', 'node.labels.zone==a', 'node.labels.rack!=r1', 'node.role!=manager'];
    const no = ['node.name==n2', 'node.id!=uid-1', 'node.hostname==n1', 'node.role==manager', 'node.platform.arch==arm64', 'node.labels.zone!=a', 'node.labels.rack==r1'];
    for (const t of yes) expect(matchConstraint(parseConstraint(t)!, target), t).toBe(true);
    for (const t of no) expect(matchConstraint(parseConstraint(t)!, target), t).toBe(false);
  });

  it('a malformed constraint of a stored spec is kept and never met (the scheduler names it)', () => {
    const cs = parseConstraints(['node.labels.zone==a', 'engine.labels.x==y']);
    expect(firstUnmet(cs, target)?.text).toBe('engine.labels.x==y');
  });

  it('the API accepts exactly what the matcher understands', () => {
    const svc = (constraints: string[]) => ({
      apiVersion: 'shoal/v1', kind: 'Service', metadata: { name: 'web' },
      spec: { placement: { constraints }, template: { spec: { containers: [{ name: 'c', image: 'busybox' }] } } },
    });
    const accepted = ['node.role==worker', 'node.id==x', 'node.hostname==h', 'node.platform.os==linux', 'node.labels.zone==a'];
    expect(validateService(svc(accepted))).toEqual([]);
    for (const c of accepted) expect(parseConstraint(c), c).toBeDefined();
    const causes = validateService(svc(['engine.labels.x==y']));
    expect(causes.map((c) => c.field)).toEqual(['spec.placement.constraints[0]']);
  });
});
