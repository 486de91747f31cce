import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { useWasmWithCpuReference } from "./testing/parity.js";

beforeAll(useWasmWithCpuReference);

describe("Identity on wasm shares the buffer", () => {
  it("clones without copying and survives the original's disposal", async () => {
    await tf.setBackend("wasm");
    const x = tf.tensor([1, -2, 3.5, 4], [2, 2]);
    const dataBefore = tf.engine().backend.numDataIds();
    const y = tf.clone(x);
    expect(tf.engine().backend.numDataIds()).toBe(dataBefore);
    x.dispose();
    expect(Array.from(await y.data())).toEqual([1, -2, 3.5, 4]);
    expect(y.shape).toEqual([2, 2]);
    y.dispose();
    expect(tf.engine().backend.numDataIds()).toBe(dataBefore - 1);
    // strings still go to the shipped kernel
    const s = tf.tensor(["a", "b"]);
    const sc = tf.clone(s);
    expect(await sc.array()).toEqual(["a", "b"]);
    tf.dispose([s, sc]);
  });
});
