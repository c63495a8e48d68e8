"""IMU encoder: DeepConvLSTM (Ordóñez & Roggen, 2016), temporal convolutions followed by two LSTM layers.

What follows the paper: four convolutions along time only (64 filters, kernel 5, ReLU, unpadded, no
pooling), then two LSTM layers of 128 units, and the feature is the last time step's hidden state of the
top layer (the paper classifies the last step of the sequence). Dropout 0.5 on the LSTM's input.

What is adapted: the paper convolves every sensor channel separately with 2D kernels of shape (5, 1) and
feeds the LSTM 64 x channels features per step; here each convolution is a Conv1d over all channels (the
usual PyTorch port), so channels mix from the first layer and the LSTM gets `conv_filters` features per
step (far fewer LSTM weights for many channels). The paper's output layer, 24-sample windows and RMSProp
recipe are not part of the encoder: harlit's head, data.imu_length and optimiser take their place.
Initialisation is PyTorch's default.
"""

from __future__ import annotations

import torch
from torch import nn

from harlit.models.imu_checks import check_imu_input, require_positive, require_probability


class DeepConvLSTM(nn.Module):
    """(Conv1d -> ReLU) x conv_layers -> Dropout -> LSTM x lstm_layers -> last step's hidden state.

    The convolutions are unpadded, as in the paper, so the input must be at least `receptive_field`
    samples (17 with the defaults). Input: (batch, channels, time). Output: (batch, lstm_hidden).
    """

    def __init__(
        self,
        in_channels: int = 6,
        conv_filters: int = 64,
        conv_layers: int = 4,
        kernel_size: int = 5,
        lstm_hidden: int = 128,
        lstm_layers: int = 2,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        for name, value in (
            ("in_channels", in_channels),
            ("conv_filters", conv_filters),
            ("conv_layers", conv_layers),
            ("kernel_size", kernel_size),
            ("lstm_hidden", lstm_hidden),
            ("lstm_layers", lstm_layers),
        ):
            require_positive(name, value)
        require_probability("dropout", dropout)
        convolutions: list[nn.Module] = []
        previous = in_channels
        for _ in range(conv_layers):
            convolutions += [nn.Conv1d(previous, conv_filters, kernel_size), nn.ReLU(inplace=True)]
            previous = conv_filters
        self.convolutions = nn.Sequential(*convolutions)
        self.dropout = nn.Dropout(dropout)
        self.lstm = nn.LSTM(conv_filters, lstm_hidden, num_layers=lstm_layers, batch_first=True)
        self.in_channels = in_channels
        self.out_dim = lstm_hidden
        self.receptive_field = 1 + conv_layers * (kernel_size - 1)

    def forward(self, imu: torch.Tensor) -> torch.Tensor:
        check_imu_input(
            imu, self.in_channels, self.receptive_field, "use a smaller model.imu.kernel_size or conv_layers"
        )
        steps = self.convolutions(imu).transpose(1, 2)  # (batch, time, filters): the LSTM's sequence
        outputs, _ = self.lstm(self.dropout(steps))
        return outputs[:, -1]
