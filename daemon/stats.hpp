// Session statistics (placeholder; being written).
#pragma once
