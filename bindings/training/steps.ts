// Index training as steps. An index's train() is a generator that yields its k-means and PQ trainings as requests
// (a model it made, untrained, and the data) and receives train()'s result: runSteps trains the models here
// (train()), WorkerPool.trainIndex on the workers (pool.kmeans, pool.trainPQ). Everything between the steps
// (sampling, residuals, OPQ, the tables built from the trained parts) is the generator's, so both ways run the same
// code around the same trainings. The generator owns the models: it disposes them when a step fails (the driver
// throws the failure into it) or when it is closed early.
import type { PQTrainOptions, ProductQuantizer, ProductQuantizerTrainResult } from '../quantizers/ProductQuantizer.js';
import type { KMeans, KMeansTrainResult } from './KMeans.js';

export type TrainStep =
  | { kind: 'kmeans'; model: KMeans; x: Float32Array }
  | { kind: 'pq'; model: ProductQuantizer; x: Float32Array; trainOptions: PQTrainOptions };

export type TrainSteps<R> = Generator<TrainStep, R, KMeansTrainResult | ProductQuantizerTrainResult>;

/** Runs every step on this thread: what train() does. */
export function runSteps<R>(steps: TrainSteps<R>): R {
  let r = steps.next();
  while (!r.done) {
    const s = r.value;
    let result: KMeansTrainResult | ProductQuantizerTrainResult;
    try {
      result = s.kind === 'kmeans' ? s.model.train(s.x) : s.model.train(s.x, s.trainOptions);
    } catch (e) {
      steps.throw(e); // the generator frees what it made and rethrows
      throw e;
    }
    r = steps.next(result);
  }
  return r.value;
}
