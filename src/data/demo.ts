// The built-in demo task: deterministic, simple English text that a tiny model can learn to
// predict better within a few dozen ZO steps (used when `mobizo finetune` gets no --data).
import { mulberry32 } from '../util/random';

const SUBJECTS = ['the cat', 'the dog', 'a bird', 'the girl', 'a boy', 'the sun'];
const VERBS = ['sees', 'likes', 'finds', 'helps', 'follows'];
const OBJECTS = ['the ball', 'a tree', 'the park', 'a red box', 'the river'];

/** `n` short sentences drawn from a tiny grammar with a fixed seed, one story per 8 sentences. */
export function demoDocuments(n = 400, seed = 7): string[] {
  const rand = mulberry32(seed);
  const pick = (xs: string[]) => xs[Math.floor(rand() * xs.length)];
  const docs: string[] = [];
  let cur: string[] = [];
  for (let i = 0; i < n; i++) {
    cur.push(`${pick(SUBJECTS)} ${pick(VERBS)} ${pick(OBJECTS)}.`);
    if (cur.length === 8) (docs.push(cur.join(' ')), (cur = []));
  }
  if (cur.length) docs.push(cur.join(' '));
  return docs;
}
