// A runtime process rejects oversized, malformed and wrong-version messages
// from an admitted device with a clear error, logs them, and keeps serving.
#include <grpcpp/generic/generic_stub.h>
#include <gtest/gtest.h>

#include "net_common.h"
#include "net_internal.h"
#include "process_util.h"

namespace confml::net {
namespace {

class MessagesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_ = testing::FlWordsConfig();
    verifier_ = c_.StartVerifier(config_);
    ASSERT_FALSE(verifier_.empty()) << testing::ReadAll(c_.Path("verifier.log"));
    runtime_pid_ =
        c_.Start({"serve", "runtime", "--config", config_, "--verifier", verifier_,
                  "--verifier-cert", c_.Path("verifier.pem"), "--listen", "127.0.0.1:0",
                  "--ready-file", c_.Path("runtime.addr"), "--max-message-bytes", "65536"},
                 "runtime.log");
    std::optional<std::string> rt = c_.WaitForFile("runtime.addr", 60);
    ASSERT_TRUE(rt) << testing::ReadAll(c_.Path("runtime.log"));
    runtime_ = *rt;
    // This test process is an honest, attested device.
    DeviceOptions o;
    o.config_path = config_;
    o.name = "probe-device";
    o.verifier = verifier_;
    o.verifier_cert = c_.Path("verifier.pem");
    StatusOr<internal::PartyProcess> p = internal::StartParty(o, o, "device", nullptr, 30);
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    party_ = std::move(*p);
    auto check =
        grpc::experimental::ExternalCertificateVerifier::Create<internal::AttestedPeerVerifier>(
            party_.trust, std::vector<std::string>{"runtime"}, party_.log);
    channel_ =
        grpc::CreateCustomChannel(runtime_, internal::ChannelCredentials(party_.identity, check),
                                  internal::ChannelArgs(8 << 20));
    stub_ = confml::v1::Runtime::NewStub(channel_);
  }

  // Streams `chunks` as one PushResult and returns the status.
  grpc::Status Push(const std::vector<confml::v1::ModelChunk>& chunks) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    confml::v1::Ack ack;
    auto writer = stub_->PushResult(&ctx, &ack);
    for (const auto& ch : chunks) {
      if (!writer->Write(ch)) break;
    }
    writer->WritesDone();
    return writer->Finish();
  }

  static confml::v1::ModelChunk First(uint32_t version, uint64_t total, std::string data) {
    confml::v1::ModelChunk ch;
    ch.mutable_header()->set_protocol_version(version);
    ch.set_total_bytes(total);
    ch.mutable_result()->set_client_id(0);
    ch.mutable_result()->set_num_samples(6);
    ch.set_data(std::move(data));
    return ch;
  }

  testing::Cluster c_;
  std::string config_, verifier_, runtime_;
  pid_t runtime_pid_ = 0;
  internal::PartyProcess party_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<confml::v1::Runtime::Stub> stub_;
};

TEST_F(MessagesTest, RejectsBadMessagesAndKeepsServing) {
  const std::string wrong_version = "protocol version " + std::to_string(kProtocolVersion + 1);
  // Wrong protocol version.
  grpc::Status v = Push({First(kProtocolVersion + 1, 8, std::string(8, '\0'))});
  EXPECT_EQ(v.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << v.error_message();
  EXPECT_NE(v.error_message().find(wrong_version), std::string::npos) << v.error_message();
  // A peer of protocol 2 (which still had the word runtime) is refused the same way.
  grpc::Status two = Push({First(2, 8, std::string(8, '\0'))});
  EXPECT_EQ(two.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << two.error_message();
  EXPECT_NE(two.error_message().find("protocol version 2, this build speaks 3"), std::string::npos)
      << two.error_message();

  // One message over the server's 64 KiB limit: gRPC refuses it before the handler.
  grpc::Status big = Push({First(kProtocolVersion, 200000, std::string(200000, 'x'))});
  EXPECT_EQ(big.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << big.error_message();

  // A stream declaring more than the model size limit (64 MiB).
  grpc::Status declared = Push({First(kProtocolVersion, uint64_t{1} << 40, std::string(8, '\0'))});
  EXPECT_EQ(declared.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << declared.error_message();

  // Malformed: not whole float32 values; more bytes than declared; fewer.
  grpc::Status odd = Push({First(kProtocolVersion, 7, std::string(7, '\0'))});
  EXPECT_EQ(odd.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << odd.error_message();
  grpc::Status more = Push({First(kProtocolVersion, 8, std::string(12, '\0'))});
  EXPECT_EQ(more.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << more.error_message();
  grpc::Status fewer = Push({First(kProtocolVersion, 16, std::string(8, '\0'))});
  EXPECT_EQ(fewer.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << fewer.error_message();

  // Bytes that are not a protobuf message at all, through a generic call.
  {
    grpc::GenericStub generic(channel_);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    grpc::CompletionQueue cq;
    const char garbage[] = "\xff\xff\xff\xff\xff\x0f not protobuf";
    grpc::Slice slice(garbage, sizeof(garbage) - 1);
    grpc::ByteBuffer request(&slice, 1);
    grpc::ByteBuffer response;
    grpc::Status status;
    auto call = generic.PrepareUnaryCall(&ctx, "/confml.v1.Runtime/ReportFailure", request, &cq);
    call->StartCall();
    call->Finish(&response, &status, reinterpret_cast<void*>(1));
    void* tag = nullptr;
    bool ok = false;
    ASSERT_TRUE(cq.Next(&tag, &ok));
    EXPECT_FALSE(status.ok());
    EXPECT_NE(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
    cq.Shutdown();
    while (cq.Next(&tag, &ok)) {
    }
  }

  // Still serving: a well-formed result reaches the handler, which answers
  // that no round is open (the model-provider never came).
  grpc::Status well = Push({First(kProtocolVersion, 8, std::string(8, '\0'))});
  EXPECT_EQ(well.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << well.error_message();
  EXPECT_NE(well.error_message().find("the open round is none"), std::string::npos)
      << well.error_message();
  EXPECT_TRUE(c_.Alive(runtime_pid_));
  const std::string log = testing::ReadAll(c_.Path("runtime.log"));
  EXPECT_NE(log.find("rejected PushResult from probe-device"), std::string::npos) << log;
  EXPECT_NE(log.find(wrong_version), std::string::npos) << log;
  EXPECT_NE(log.find("not a positive number of float32 values"), std::string::npos) << log;
}

}  // namespace
}  // namespace confml::net
