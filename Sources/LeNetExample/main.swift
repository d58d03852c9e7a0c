import Axon

// The seed's LeNet and its training step, as written in PyTorch, in Swift.
// Run: swift run lenet-example

final class Net: Module {
    let conv1 = Conv2d(1, 6, kernelSize: 3)
    let conv2 = Conv2d(6, 16, kernelSize: 3)
    let fc1 = Linear(16 * 5 * 5, 120)
    let fc2 = Linear(120, 84)
    let fc3 = Linear(84, 10)

    func callAsFunction(_ x: Tensor) -> Tensor {
        var x = maxPool2d(relu(conv1(x)), 2)
        x = maxPool2d(relu(conv2(x)), 2)
        x = x.flattened(from: 1)
        x = relu(fc1(x))
        x = relu(fc2(x))
        return fc3(x)
    }
}

manualSeed(0)
let input = Tensor.randn([8, 1, 28, 28])
let target = Tensor(shape: [8], scalars: [0, 1, 2, 3, 4, 5, 6, 7])

let net = Net()
print(net)
print(net.summary(inputShape: [1, 1, 28, 28], forward: net.callAsFunction))
let optimizer = SGD(net.parameters(), lr: 0.01, momentum: 0.9)
for step in 1...20 {
    optimizer.zeroGrad()
    let loss = crossEntropy(net(input), target)
    loss.backward()
    optimizer.step()
    if step == 1 || step % 5 == 0 { print("step \(step): loss \(loss.item)") }
}
