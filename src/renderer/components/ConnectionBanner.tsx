import { useEffect, useRef, useState } from 'react';
import { useApp } from '../store';
import { SESSION_EXPIRED_MESSAGE } from '../transport';
import { CheckCircleIcon, PlugOffIcon } from './Icons';
import { Callout, Code, Spinner } from './ui';

const RESTORED_NOTICE_MS = 4000;

/** Says when the event stream to the host is down, and briefly when it is back. */
export function ConnectionBanner() {
  const connection = useApp((s) => s.connection);
  const [restored, setRestored] = useState(false);
  const wasLost = useRef(false);

  useEffect(() => {
    if (connection === 'reconnecting') {
      wasLost.current = true;
      setRestored(false);
      return;
    }
    if (connection === 'connected' && wasLost.current) {
      wasLost.current = false;
      setRestored(true);
      const timer = setTimeout(() => setRestored(false), RESTORED_NOTICE_MS);
      return () => clearTimeout(timer);
    }
    return;
  }, [connection]);

  return (
    <div className="banner-slot" role="status" aria-live="polite">
      {connection === 'reconnecting' ? (
        <div className="banner banner--warn">
          <PlugOffIcon size={18} />
          <span>Lost connection to the OpenIR host — reconnecting…</span>
          <Spinner />
        </div>
      ) : restored ? (
        <div className="banner banner--ok">
          <CheckCircleIcon size={18} />
          <span>Connection to the OpenIR host restored.</span>
        </div>
      ) : null}
    </div>
  );
}

export function SessionExpired() {
  return (
    <div className="page page--narrow">
      <Callout tone="warn" role="alert" title="Session expired">
        <p>
          <Code text={SESSION_EXPIRED_MESSAGE} />
        </p>
        <p className="muted">
          By default sessions end after 30 minutes without use, 12 hours after sign-in, when more than 8 are
          open (the least recently used goes), and when the OpenIR host restarts. Nothing on this node was
          changed.
        </p>
      </Callout>
    </div>
  );
}
