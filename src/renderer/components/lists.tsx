import { useId, type ComponentPropsWithoutRef, type ReactNode } from 'react';

/** A list of things of one kind (certificates, credentials), each an `ItemRow`; a note when there is none. */
export function ItemList<T>({
  label,
  items,
  empty,
  children,
}: {
  label: string;
  items: readonly T[];
  empty: ReactNode;
  children: (item: T) => ReactNode;
}) {
  if (items.length === 0) return <p className="item-list__empty muted">{empty}</p>;
  return (
    <ul className="item-list" aria-label={label}>
      {items.map(children)}
    </ul>
  );
}

/** One thing in an `ItemList`: its name (which names the row), tags beside it, then its details. */
export function ItemRow({
  title,
  tags,
  children,
  ...rest
}: { title: ReactNode; tags: ReactNode; children: ReactNode } & Omit<
  ComponentPropsWithoutRef<'li'>,
  'title' | 'className'
>) {
  const titleId = useId();
  return (
    <li {...rest} className="item-row" aria-labelledby={titleId}>
      <div className="item-row__head">
        <p id={titleId} className="item-row__title break">
          <strong>{title}</strong>
        </p>
        <span className="item-row__tags">{tags}</span>
      </div>
      {children}
    </li>
  );
}
