// The seeded PRNG lives in @xnn/shared, where sweep expansion draws from it too.
export { createRng, hash32, mixSeed, type Rng, shuffleInPlace, stringSeed } from "@xnn/shared";
