export * from "./deltaStore.js";
