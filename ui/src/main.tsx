import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { App } from "./App";
import { takeFragment } from "./auth";
import "./styles.css";

// Before anything renders: the dev link's token leaves the address bar at once.
takeFragment(window.location, window.history);

createRoot(document.getElementById("root") as HTMLElement).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
