import { useEffect, useRef, useState, type KeyboardEvent, type ReactNode } from 'react';
import { ConnectionBanner, SessionExpired } from './components/ConnectionBanner';
import { HomeIcon, KeyIcon, LogoMark, PulseIcon, SlidersIcon } from './components/Icons';
import { NodeStatusChip } from './components/StatusBadge';
import { Button, Callout, ErrorDetails, Spinner } from './components/ui';
import { DiagnosticsPanel } from './features/diagnostics/DiagnosticsPanel';
import { HomePanel } from './features/home/HomePanel';
import { RegisterPanel } from './features/register/RegisterPanel';
import { SettingsPanel } from './SettingsPanel';
import type { TabId } from './state/uiSlice';
import { useApp } from './store';

interface TabSpec {
  id: TabId;
  label: string;
  icon: ReactNode;
}

const TAB_ORDER: TabId[] = ['home', 'settings', 'diagnostics'];

export function App() {
  const report = useApp((s) => s.report);
  const loadError = useApp((s) => s.loadError);
  const connection = useApp((s) => s.connection);
  const refreshStatus = useApp((s) => s.refreshStatus);
  const tab = useApp((s) => s.tab);
  const setTab = useApp((s) => s.setTab);

  // Until a node is registered, the first tab is the Register page.
  const needsRegistration = report !== null && !report.registered;
  const tabs: TabSpec[] = [
    needsRegistration
      ? { id: 'home', label: 'Register', icon: <KeyIcon size={18} /> }
      : { id: 'home', label: 'Home', icon: <HomeIcon size={18} /> },
    { id: 'settings', label: 'Settings', icon: <SlidersIcon size={18} /> },
    { id: 'diagnostics', label: 'Diagnostics', icon: <PulseIcon size={18} /> },
  ];

  let content: ReactNode;
  if (connection === 'session-expired') {
    content = <SessionExpired />;
  } else if (!report) {
    content = loadError ? (
      <div className="page page--narrow">
        <Callout
          tone="error"
          role="alert"
          title="The Configuration Manager cannot load the state of this node."
        >
          <ErrorDetails error={loadError} />
          <div className="callout__actions">
            <Button variant="primary" onClick={() => void refreshStatus()}>
              Try again
            </Button>
          </div>
        </Callout>
      </div>
    ) : (
      <div className="page page--narrow loading" role="status">
        <Spinner />
        <span>Connecting to the OpenIR host…</span>
      </div>
    );
  } else {
    content = (
      <>
        <nav className="tabs" aria-label="Sections">
          <TabList tabs={tabs} selected={tab} onSelect={setTab} />
        </nav>
        {tabs.map((spec) => (
          <div
            key={spec.id}
            role="tabpanel"
            id={`panel-${spec.id}`}
            aria-labelledby={`tab-${spec.id}`}
            hidden={spec.id !== tab}
            className="tabpanel"
          >
            {spec.id === tab ? <Panel id={spec.id} needsRegistration={needsRegistration} /> : null}
          </div>
        ))}
      </>
    );
  }

  return (
    <div className="app">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <div className="topbar__inner">
          <div className="brand">
            <LogoMark />
            <h1 className="brand__name">
              OpenIR <span className="brand__product">Configuration Manager</span>
            </h1>
          </div>
          {report?.node && report.ir ? (
            <p className="topbar__context">
              <span className="visually-hidden">Node </span>
              <strong>{report.node.name}</strong>
              <span aria-hidden="true"> · </span>
              <span className="visually-hidden"> in integration runtime </span>
              {report.ir.name}
            </p>
          ) : null}
          <NodeStatusChip
            status={report?.status ?? null}
            stale={connection === 'reconnecting' || connection === 'session-expired'}
          />
        </div>
      </header>
      <ConnectionBanner />
      <main id="main" className="main" tabIndex={-1}>
        {content}
      </main>
    </div>
  );
}

function Panel({ id, needsRegistration }: { id: TabId; needsRegistration: boolean }) {
  switch (id) {
    case 'home':
      return needsRegistration ? <RegisterPanel /> : <HomePanel />;
    case 'settings':
      return <SettingsPanel />;
    case 'diagnostics':
      return <DiagnosticsPanel />;
  }
}

/** WAI-ARIA tabs: one tab stop, arrows move and select, Home/End jump. */
function TabList({
  tabs,
  selected,
  onSelect,
}: {
  tabs: TabSpec[];
  selected: TabId;
  onSelect: (id: TabId) => void;
}) {
  const refs = useRef(new Map<TabId, HTMLButtonElement>());
  const [focusRequest, setFocusRequest] = useState<TabId | null>(null);

  useEffect(() => {
    if (focusRequest) {
      refs.current.get(focusRequest)?.focus();
      setFocusRequest(null);
    }
  }, [focusRequest]);

  const onKeyDown = (event: KeyboardEvent<HTMLDivElement>) => {
    const index = TAB_ORDER.indexOf(selected);
    let next: TabId | undefined;
    if (event.key === 'ArrowRight') next = TAB_ORDER[(index + 1) % TAB_ORDER.length];
    else if (event.key === 'ArrowLeft') next = TAB_ORDER[(index - 1 + TAB_ORDER.length) % TAB_ORDER.length];
    else if (event.key === 'Home') next = TAB_ORDER[0];
    else if (event.key === 'End') next = TAB_ORDER[TAB_ORDER.length - 1];
    if (!next) return;
    event.preventDefault();
    onSelect(next);
    setFocusRequest(next);
  };

  return (
    <div
      role="tablist"
      aria-label="Configuration Manager sections"
      className="tabs__list"
      onKeyDown={onKeyDown}
    >
      {tabs.map((spec) => {
        const isSelected = spec.id === selected;
        return (
          <button
            key={spec.id}
            ref={(element) => {
              if (element) refs.current.set(spec.id, element);
              else refs.current.delete(spec.id);
            }}
            type="button"
            role="tab"
            id={`tab-${spec.id}`}
            aria-selected={isSelected}
            aria-controls={`panel-${spec.id}`}
            tabIndex={isSelected ? 0 : -1}
            className="tabs__tab"
            onClick={() => onSelect(spec.id)}
          >
            {spec.icon}
            <span>{spec.label}</span>
          </button>
        );
      })}
    </div>
  );
}
