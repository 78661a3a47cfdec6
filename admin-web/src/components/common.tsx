import { type ReactElement, cloneElement, useId } from "react";

/** A failure of the last action, in words (status, code, detail). */
export function ErrorBanner({ message }: { message: string | null }) {
  if (!message) return null;
  return (
    <div className="error-banner" role="alert">
      {message}
    </div>
  );
}

/**
 * A labelled input with the API's message for that field beneath it, tied
 * to the input (`aria-describedby`) so a screen reader reads it too.
 */
export function Field({ label, error, children }: { label: string; error?: string; children: ReactElement }) {
  const id = useId();
  const errorId = `${id}-error`;
  return (
    <div className={error ? "field field-invalid" : "field"}>
      <label className="field-label" htmlFor={id}>
        {label}
      </label>
      {cloneElement(children, {
        id,
        "aria-invalid": error ? true : undefined,
        "aria-describedby": error ? errorId : undefined,
      })}
      {error && (
        <span className="field-error" id={errorId} role="alert">
          {error}
        </span>
      )}
    </div>
  );
}

/** Previous / next over a paginated list. */
export function Pager({
  page,
  perPage,
  total,
  onPage,
}: {
  page: number;
  perPage: number;
  total: number;
  onPage: (page: number) => void;
}) {
  const pages = Math.max(1, Math.ceil(total / perPage));
  return (
    <nav className="pager" aria-label="pages">
      <button type="button" disabled={page <= 1} onClick={() => onPage(page - 1)}>
        Previous
      </button>
      <span>
        Page {page} of {pages} ({total} in all)
      </span>
      <button type="button" disabled={page >= pages} onClick={() => onPage(page + 1)}>
        Next
      </button>
    </nav>
  );
}

export function Timestamp({ value }: { value: string }) {
  return <time dateTime={value}>{new Date(value).toLocaleString("en-GB", { timeZone: "UTC" })} UTC</time>;
}

/** A page of a paginated list, as every list route answers it. */
export interface ListPage<T> {
  items: T[];
  page: number;
  per_page: number;
  total: number;
}

/** A list page as a table, one row per item, with the pager beneath. */
export function PagedTable<T>({
  list,
  headings,
  row,
  onPage,
}: {
  list: ListPage<T> | null;
  headings: string[];
  row: (item: T) => ReactElement;
  onPage: (page: number) => void;
}) {
  if (!list) return null;
  return (
    <>
      <table>
        <thead>
          <tr>
            {headings.map((heading) => (
              <th key={heading}>{heading}</th>
            ))}
          </tr>
        </thead>
        <tbody>{list.items.map(row)}</tbody>
      </table>
      <Pager page={list.page} perPage={list.per_page} total={list.total} onPage={onPage} />
    </>
  );
}
