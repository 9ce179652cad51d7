/**
 * Compile-time assertion helpers for the `*.test-d.ts` files, checked with
 * `tsc -p test/types --noEmit` (nothing here runs).
 */

/** Exact type equality (distinguishes `any`, `unknown`, optionality, readonly). */
export type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;

/** Fails to compile unless `T` is `true`. */
export type Expect<T extends true> = T;

/** `expectType<Expected>()(value)` fails to compile unless the value's type is exactly `Expected`. */
export function expectType<Expected>(): <Actual>(
  value: Actual & ([Equal<Actual, Expected>] extends [true] ? unknown : { __expected: Expected; __actual: Actual }),
) => void {
  return () => undefined;
}
