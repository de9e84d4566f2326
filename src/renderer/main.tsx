import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App';
import { connectStore, createAppStore, StoreContext } from './store';
import { getTransport } from './transport';
import './styles.css';

const transport = getTransport();
const store = createAppStore(transport);
connectStore(store, transport);

const root = document.getElementById('root');
if (!root) throw new Error('index.html has no #root element.');

createRoot(root).render(
  <StrictMode>
    <StoreContext.Provider value={store}>
      <App />
    </StoreContext.Provider>
  </StrictMode>,
);
