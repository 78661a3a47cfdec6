import { type DependencyList, useEffect, useState } from "react";

import { describe } from "./api";

/**
 * What `load` answers, loaded again whenever `deps` change, with the
 * failure in words; an answer that arrives after a newer load started is
 * dropped.
 */
export function useLoaded<T>(load: () => Promise<T>, deps: DependencyList): [T | null, string | null] {
  const [value, setValue] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let current = true;
    setError(null);
    load()
      .then((loaded) => current && setValue(loaded))
      .catch((failure) => current && setError(describe(failure)));
    return () => {
      current = false;
    };
    // `load` is a new closure each render; `deps` name what it reads.
  }, deps);
  return [value, error];
}
