package dev.outboxbridge.inbox.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.outboxbridge.inbox.TransactionRunner;
import java.util.List;
import java.util.Map;
import javax.sql.DataSource;
import org.junit.jupiter.api.Test;

/**
 * The {@code transactionRunner} setting: default {@link TransactionRunner#jdbc()}, a given one is kept, null refused; and
 * {@code savepointPerHandler}: off by default, refused with a runner that has no savepoints.
 */
class TransactionRunnerSettingTest {

    private static InboxConsumerBuilder builder() {
        InboxConsumerBuilder builder = new InboxConsumerBuilder();
        builder.consumerName("billing").kafkaProperties(Map.of("bootstrap.servers", "localhost:9092"))
                .topics(List.of("outbox.event.order")).dataSource(new org.postgresql.ds.PGSimpleDataSource())
                .handler((event, tx) -> { });
        return builder;
    }

    @Test
    void defaultIsTheJdbcRunner() {
        assertThat(builder().settings().transactionRunner()).isSameAs(TransactionRunner.jdbc());
    }

    @Test
    void aGivenRunnerIsUsed() {
        TransactionRunner own = new TransactionRunner() {
            @Override
            public <T> T inTransaction(DataSource dataSource, Work<T> work) throws Exception {
                return TransactionRunner.jdbc().inTransaction(dataSource, work);
            }
        };
        assertThat(builder().transactionRunner(own).settings().transactionRunner()).isSameAs(own);
    }

    @Test
    void nullIsRefusedNamingTheSetting() {
        assertThatThrownBy(() -> builder().transactionRunner(null).settings())
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("transactionRunner")
                .hasMessageContaining("TransactionRunner.jdbc()");
    }

    @Test
    void savepointPerHandlerIsOffByDefaultAndKeptWhenAsked() {
        assertThat(builder().settings().savepointPerHandler()).isFalse();
        assertThat(builder().savepointPerHandler(true).settings().savepointPerHandler()).isTrue();
    }

    @Test
    void savepointPerHandlerIsRefusedWithARunnerWithoutSavepoints() {
        TransactionRunner jpaLike = new TransactionRunner() {
            @Override
            public <T> T inTransaction(DataSource dataSource, Work<T> work) throws Exception {
                return TransactionRunner.jdbc().inTransaction(dataSource, work);
            }

            @Override
            public boolean supportsSavepoints() {
                return false;
            }
        };
        assertThat(builder().transactionRunner(jpaLike).settings().savepointPerHandler()).isFalse();
        assertThatThrownBy(() -> builder().transactionRunner(jpaLike).savepointPerHandler(true).settings())
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("savepointPerHandler")
                .hasMessageContaining("supports no savepoints").hasMessageContaining("omit savepointPerHandler(true)");
    }
}
