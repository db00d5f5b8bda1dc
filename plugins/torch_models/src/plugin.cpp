// The torch_models plugin: the entry symbol and the registration of its Model stages.
#include "models.hpp"

#include <radpipe/plugin.hpp>

namespace {

void register_stages(radpipe::PluginRegistrar& registrar) {
  using namespace radpipe::torch_models;
  registrar.add<CnnModel>("cnn", "Small CNN: conv3x3-BatchNorm-ReLU-MaxPool blocks, global pooling and a head",
                          CnnModel::schema());
  registrar.add<ResNetModel>("resnet", "ResNet-18/34/50 with torchvision's names (loads torchvision state_dicts)",
                             ResNetModel::schema());
  registrar.add<DenseNetModel>("densenet", "DenseNet-121/169/201 with torchvision's names (loads torchvision state_dicts)",
                               DenseNetModel::schema());
  registrar.add<TorchScriptModel>("torchscript", "A TorchScript model file, for inference only", TorchScriptModel::schema());
}

} // namespace

RADPIPE_PLUGIN("torch_models", "0.1.0", "LibTorch classifiers: small CNN, ResNet, DenseNet, TorchScript", register_stages)
