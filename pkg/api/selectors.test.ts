import { describe, expect, it } from 'vitest';
import { formatLabelSelector, matchFields, matchLabels, parseFieldSelector, parseLabelSelector } from './selectors.js';

describe('label selectors', () => {
  const labels = { app: 'web', tier: 'front', env: 'prod' };
  it('parses every operator', () => {
    const s = parseLabelSelector('app=web, tier!=db,env in (prod, staging),zone notin (b),app,!gone,x==y');
    expect(s).toEqual([
      { key: 'app', op: 'eq', value: 'web' },
      { key: 'tier', op: 'neq', value: 'db' },
      { key: 'env', op: 'in', values: ['prod', 'staging'] },
      { key: 'zone', op: 'notin', values: ['b'] },
      { key: 'app', op: 'exists' },
      { key: 'gone', op: 'notexists' },
      { key: 'x', op: 'eq', value: 'y' },
    ]);
    expect(formatLabelSelector(s)).toBe('app=web,tier!=db,env in (prod,staging),zone notin (b),app,!gone,x=y');
  });
  it('matches', () => {
    expect(matchLabels(parseLabelSelector('app=web,tier!=db,env in (prod),!gone'), labels)).toBe(true);
    expect(matchLabels(parseLabelSelector('app=db'), labels)).toBe(false);
    expect(matchLabels(parseLabelSelector('zone'), labels)).toBe(false);
    expect(matchLabels(parseLabelSelector('zone!=a'), labels)).toBe(true);
    expect(matchLabels(parseLabelSelector('env notin (prod)'), labels)).toBe(false);
    expect(matchLabels(parseLabelSelector(''), undefined)).toBe(true);
    expect(matchLabels(parseLabelSelector('app'), undefined)).toBe(false);
  });
  it.each(['app=', 'a b', '=x', 'app in ()', 'app in (a', 'app=(x)', ',', 'app=web,', '-a=b', 'a=b=c'])('rejects %j', (s) => {
    if (s === 'app=') {
      expect(parseLabelSelector(s)).toEqual([{ key: 'app', op: 'eq', value: '' }]);
      return;
    }
    expect(() => parseLabelSelector(s)).toThrow(/invalid selector/);
  });
});

describe('field selectors', () => {
  const task = { metadata: { name: 't1' }, spec: { nodeName: 'n1' }, status: { state: 'running' } };
  it('parses and matches', () => {
    const s = parseFieldSelector('spec.nodeName=n1,status.state!=failed');
    expect(matchFields(s, task)).toBe(true);
    expect(matchFields(parseFieldSelector('spec.nodeName==n2'), task)).toBe(false);
    expect(matchFields(parseFieldSelector('spec.missing='), task)).toBe(true);
  });
  it('restricts fields', () => {
    expect(() => parseFieldSelector('spec.foo=1', ['spec.nodeName'])).toThrow(/not supported/);
    expect(() => parseFieldSelector('nonsense')).toThrow(/invalid selector/);
  });
});
