// `import Axon` gives the whole public API.
@_exported import AxonCore
