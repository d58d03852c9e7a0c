// `import Axon` gives the whole public API.
@_exported import AxonCore
@_exported import AxonNN
@_exported import AxonOptim
@_exported import AxonData
@_exported import AxonIO
@_exported import AxonTraining
@_exported import AxonONNX
@_exported import AxonDistributed
