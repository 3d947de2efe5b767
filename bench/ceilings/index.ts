// bench/ceilings.js's probe module: bare kernel loops, compiled by the bench with the project's asc (never shipped).
export * from './fastscan';
export * from './mac';
