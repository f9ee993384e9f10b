// Errors about a run's options name the option as the API spells it (`lr`, `evalEvery`); the CLI
// maps that name to its flag (`--lr`, `--eval-every`) and the app to its form field, so the core
// never names a flag.

export class OptionError extends Error {
  constructor(
    readonly option: string, // the option's API name, e.g. 'lr'
    readonly problem: string, // what is wrong, e.g. 'must be in (0, 1], got 10'
  ) {
    super(`option ${option} ${problem}`);
    this.name = 'OptionError';
  }
}
