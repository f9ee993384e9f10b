// Task presets on the shared data sets (MeZO-style templates and label words). Paths are
// relative to the assets folder (default ../shared/assets, or --assets / MOBIZO_ASSETS).

export type DataSpec =
  | { kind: 'table'; file: string; text?: string; label?: string }
  | { kind: 'lines'; files: { file: string; label: string }[]; encoding: 'utf-8' | 'latin1' };

export interface Preset {
  name: string;
  description: string;
  template: string;
  classes: string[]; // label values as they appear in the data
  labelWords: string[]; // one per class
  train: DataSpec;
  eval?: DataSpec; // none: a seeded split of train
}

export const PRESETS: Record<string, Preset> = {
  sst2: {
    name: 'sst2',
    description: 'GLUE SST-2 sentiment; eval on the dev set (872)',
    template: '{text} It was',
    classes: ['0', '1'],
    labelWords: [' terrible', ' great'],
    train: { kind: 'table', file: 'data/sst2/train.tsv' },
    eval: { kind: 'table', file: 'data/sst2/dev.tsv' },
  },
  'rt-polarity': {
    name: 'rt-polarity',
    description: 'movie-review sentence polarity (Pang & Lee); eval on a seeded split',
    template: '{text} It was',
    classes: ['neg', 'pos'],
    labelWords: [' terrible', ' great'],
    train: {
      kind: 'lines',
      encoding: 'latin1',
      files: [
        { file: 'data/rt-polarity/rt-polarity.neg', label: 'neg' },
        { file: 'data/rt-polarity/rt-polarity.pos', label: 'pos' },
      ],
    },
  },
  'sms-spam': {
    name: 'sms-spam',
    description: 'UCI SMS spam collection (ham / spam); eval on a seeded split',
    template: 'Message: {text} Is it spam? Answer:',
    classes: ['ham', 'spam'],
    labelWords: [' no', ' yes'],
    train: { kind: 'table', file: 'data/sms-spam/SMSSpamCollection.tsv', text: 'SMS', label: 'Label' },
  },
};
